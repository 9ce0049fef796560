/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_route.c - libFuzzer harness for custodyd's request
 * parsing: the HTTP/1.1 head parser, then the route matcher on the target
 * it found (or on the whole input taken as a target), with every method
 * the table knows; and the input as an application/pkcs10 body
 * (api_csr_body()). Checks what they promise: a match has a route and a
 * request object, a refusal has a message and no request; a body taken
 * gives exactly one of "csr" and "csr_der", a body refused none. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
route(const char *method, const char *t, size_t n)
{
	struct api_match m;
	char msg[256], allow[64];
	int st;

	st = api_route_match(method, t, n, &m, msg, sizeof(msg), allow,
	    sizeof(allow));
	if (st == 0) {
		if (m.route == NULL || !json_is_object(m.req))
			abort();
		json_decref(m.req);
	} else if (m.req != NULL || m.route != NULL || msg[0] == '\0' ||
	    (st != 400 && st != 404 && st != 405 && st != 503))
		abort();
}

static void
csr_body(const uint8_t *data, size_t size)
{
	json_t *o = json_object();

	if (o == NULL)
		return;
	if (api_csr_body(data, size, o) == 0) {
		if (json_object_size(o) != 1 || (json_object_get(o, "csr") ==
		    NULL && json_object_get(o, "csr_der") == NULL))
			abort();
	} else if (json_object_size(o) != 0)
		abort();
	json_decref(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "DELETE" };
	struct api_http_head h;
	char msg[256], *copy;
	size_t i;
	int st;

	st = api_http_parse_head((const char *)data, size, 1 << 20, &h, msg,
	    sizeof(msg));
	if (st == 0) {
		if (h.target == NULL || h.target < (const char *)data ||
		    h.target + h.target_len > (const char *)data + size)
			abort();
		if (h.negotiate != NULL && (h.negotiate < (const char *)data ||
		    h.negotiate + h.negotiate_len > (const char *)data + size))
			abort();
		route(h.method, h.target, h.target_len);
	} else if (msg[0] == '\0')
		abort();
	/* The input as a target, NUL-terminated copy (the matcher reads
	 * only len bytes; the copy catches reads past them). */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		route(methods[i], copy, size);
	free(copy);
	csr_body(data, size);
	return 0;
}
