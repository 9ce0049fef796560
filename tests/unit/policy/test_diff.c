/* SPDX-License-Identifier: MIT */
/* tests/unit/policy/test_diff.c - the privilege diff: what counts as an
 * escalation (new console, realm or access gained on any device scope,
 * widened scope, changed identity or owner) and what does not (pure
 * reductions, moved lines), findings that appear and disappear, "no
 * policy" on either side, and the three renderings. */
#include <stdlib.h>

#include "ptest.h"

/* a owns setup; p does power on every device over the network. */
#define BASE \
	"version: 1\n" \
	"owner: a\n" \
	"consoles:\n" \
	"  a:\n" \
	"    identity: {certificate: \"CN=a\"}\n" \
	"    duties: [setup]\n" \
	"  p:\n" \
	"    identity: {certificate: \"CN=p\"}\n" \
	"    duties: [power]\n"

struct side {
	struct policy_report *rep;
	struct policy *p;
};

/* Load doc under name (findings carry it); NULL doc: no policy. */
static struct side
load(const char *doc, const char *name)
{
	struct side s = { NULL, NULL };
	int rc;

	if (doc == NULL)
		return s;
	assert_non_null(s.rep = policy_report_new());
	rc = policy_load_buf(s.rep, name, doc, strlen(doc), &s.p);
	if (rc != CUST_OK) {
		print_message("cannot load:\n%s", doc);
		pt_dump(s.rep);
	}
	assert_int_equal(rc, CUST_OK);
	return s;
}

static void
side_free(struct side *s)
{
	policy_free(s->p);
	policy_report_free(s->rep);
}

/* The diff of two documents (NULL: no policy). */
static json_t *
diff_of(const char *old, const char *new)
{
	struct side o = load(old, "old.yaml"), n = load(new, "new.yaml");
	json_t *d = NULL;

	assert_int_equal(policy_diff(o.p, o.rep, "old.yaml", n.p, n.rep,
	    "new.yaml", &d), CUST_OK);
	assert_non_null(d);
	side_free(&o);
	side_free(&n);
	return d;
}

/* The entry of console name, or NULL when it did not change. */
static json_t *
entry(json_t *d, const char *name)
{
	return pt_find_obj(json_object_get(d, "consoles"), "console", name);
}

/* The unit of e labelled scope, or NULL. */
static json_t *
unit(json_t *e, const char *scope)
{
	return pt_find_obj(json_object_get(e, "scopes"), "scope", scope);
}

static int
has(json_t *a, const char *s)
{
	json_t *x;
	size_t i;

	json_array_foreach(a, i, x)
		if (strcmp(json_string_value(x), s) == 0)
			return 1;
	return 0;
}

static void
test_identical(void **state)
{
	/* Comments and moved lines change nothing. */
	json_t *d = diff_of(BASE, "# a comment\n\n" BASE);

	(void)state;
	assert_int_equal(json_array_size(json_object_get(d, "consoles")), 0);
	assert_int_equal(json_array_size(json_object_get(d,
	    "findings_added")), 0);
	assert_false(policy_diff_escalates(d));
	json_decref(d);
}

static void
test_new_console(void **state)
{
	json_t *d = diff_of(BASE, BASE
	    "  q:\n"
	    "    identity: {certificate: \"CN=q\"}\n"
	    "    duties: [inventory]\n"), *e, *u;

	(void)state;
	assert_true(policy_diff_escalates(d));
	assert_non_null(e = entry(d, "q"));
	assert_string_equal(json_string_value(json_object_get(e, "change")),
	    "added");
	assert_non_null(u = unit(e, "every device"));
	assert_true(has(json_object_get(u, "realms_gained"),
	    "HardwareAssetRealm"));
	assert_true(has(json_object_get(u, "access_gained"), "network"));
	assert_null(entry(d, "p"));
	json_decref(d);

	/* The reverse is a pure reduction. */
	d = diff_of(BASE "  q:\n    identity: {certificate: \"CN=q\"}\n"
	    "    duties: [inventory]\n", BASE);
	assert_false(policy_diff_escalates(d));
	assert_string_equal(json_string_value(json_object_get(entry(d, "q"),
	    "change")), "removed");
	assert_true(has(json_object_get(unit(entry(d, "q"), "every device"),
	    "realms_lost"), "HardwareAssetRealm"));
	json_decref(d);
}

static void
test_realm_and_access(void **state)
{
	json_t *d, *u;

	(void)state;
	/* a duty more: the realm is gained */
	d = diff_of(BASE, "version: 1\nowner: a\nconsoles:\n  a:\n"
	    "    identity: {certificate: \"CN=a\"}\n    duties: [setup]\n"
	    "  p:\n    identity: {certificate: \"CN=p\"}\n"
	    "    duties: [power, redirection]\n");
	assert_true(policy_diff_escalates(d));
	assert_non_null(u = unit(entry(d, "p"), "every device"));
	assert_true(has(json_object_get(u, "realms_gained"),
	    "RedirectionRealm"));
	assert_int_equal(json_array_size(json_object_get(u, "realms_lost")),
	    0);
	assert_true(has(json_object_get(entry(d, "p"), "duties_gained"),
	    "redirection"));
	json_decref(d);

	/* network -> any gains local access; any -> network loses it */
	d = diff_of(BASE, BASE "    access: any\n");
	assert_true(policy_diff_escalates(d));
	u = unit(entry(d, "p"), "every device");
	assert_true(has(json_object_get(u, "access_gained"), "local"));
	assert_int_equal(json_array_size(json_object_get(u,
	    "realms_gained")), 0);
	json_decref(d);
	d = diff_of(BASE "    access: any\n", BASE);
	assert_false(policy_diff_escalates(d));
	assert_true(has(json_object_get(unit(entry(d, "p"), "every device"),
	    "access_lost"), "local"));
	json_decref(d);
	/* network -> local: one gained, one lost: an escalation */
	d = diff_of(BASE, BASE "    access: local\n");
	assert_true(policy_diff_escalates(d));
	json_decref(d);
}

static void
test_scope(void **state)
{
	json_t *d, *e;

	(void)state;
	/* tags [lab] -> every device: a wider scope */
	d = diff_of(BASE "    scope: {tags: [lab]}\n", BASE);
	assert_true(policy_diff_escalates(d));
	e = entry(d, "p");
	assert_non_null(json_object_get(e, "scope"));
	assert_null(unit(e, "devices tagged lab"));	/* unchanged there */
	assert_true(has(json_object_get(unit(e, "every other device"),
	    "realms_gained"), "RemoteControlRealm"));
	json_decref(d);

	/* every device -> tags [lab]: narrower, no escalation */
	d = diff_of(BASE, BASE "    scope: {tags: [lab]}\n");
	assert_false(policy_diff_escalates(d));
	assert_true(has(json_object_get(unit(entry(d, "p"),
	    "every other device"), "realms_lost"), "RemoteControlRealm"));
	json_decref(d);

	/* [lab, hq] -> [lab, dmz]: gains on z, loses on y */
	d = diff_of(BASE "    scope: {tags: [lab, hq]}\n",
	    BASE "    scope: {tags: [lab, dmz]}\n");
	assert_true(policy_diff_escalates(d));
	e = entry(d, "p");
	assert_null(unit(e, "devices tagged lab"));
	assert_true(has(json_object_get(unit(e, "devices tagged dmz"),
	    "realms_gained"), "RemoteControlRealm"));
	assert_true(has(json_object_get(unit(e, "devices tagged hq"),
	    "realms_lost"), "RemoteControlRealm"));
	assert_null(unit(e, "every other device"));
	json_decref(d);

	/* [lab, lab] -> [lab]: the same scope */
	d = diff_of(BASE "    scope: {tags: [lab, lab]}\n",
	    BASE "    scope: {tags: [lab]}\n");
	assert_null(entry(d, "p"));
	json_decref(d);

	/* [lab, hq] -> [hq, lab]: the same scope */
	d = diff_of(BASE "    scope: {tags: [lab, hq]}\n",
	    BASE "    scope: {tags: [hq, lab]}\n");
	assert_null(entry(d, "p"));
	json_decref(d);
}

static void
test_identity_and_owner(void **state)
{
	json_t *d, *e;

	(void)state;
	d = diff_of(BASE, "version: 1\nowner: a\nconsoles:\n  a:\n"
	    "    identity: {certificate: \"CN=a\"}\n    duties: [setup]\n"
	    "  p:\n    identity: {certificate: \"CN=evil\"}\n"
	    "    duties: [power]\n");
	assert_true(policy_diff_escalates(d));
	assert_non_null(e = entry(d, "p"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    e, "certificate"), "new")), "CN=evil");
	assert_int_equal(json_array_size(json_object_get(e, "scopes")), 0);
	json_decref(d);

	/* the owner moves from a to p (who then holds setup) */
	d = diff_of(BASE, "version: 1\nowner: p\nconsoles:\n  a:\n"
	    "    identity: {certificate: \"CN=a\"}\n    duties: [power]\n"
	    "  p:\n    identity: {certificate: \"CN=p\"}\n"
	    "    duties: [setup]\n");
	assert_true(policy_diff_escalates(d));
	assert_true(json_is_true(json_object_get(json_object_get(d, "owner"),
	    "changed")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    d, "owner"), "new")), "p");
	json_decref(d);
}

/* p with a certificate and a principal; DIR (or nothing) before it. */
#define AUTHDOC(DIR) \
	DIR \
	"version: 1\nowner: a\nconsoles:\n  a:\n" \
	"    identity: {certificate: \"CN=a\"}\n    duties: [setup]\n" \
	"  p:\n    identity: {certificate: \"CN=p\", kerberos: " \
	"\"svc-p@CORP.EX\"}\n    duties: [power]\n"

static void
test_auth(void **state)
{
	/* A directory makes p's principal, which held nothing, the holder
	 * of its rights: an escalation, and so is the way back. */
	json_t *d = diff_of(AUTHDOC(""),
	    AUTHDOC("directory: {type: ad, realm: CORP.EX}\n"));

	(void)state;
	assert_true(policy_diff_escalates(d));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    entry(d, "p"), "auth"), "new")), "kerberos");
	assert_int_equal(json_array_size(json_object_get(entry(d, "p"),
	    "scopes")), 0);
	json_decref(d);
	d = diff_of(AUTHDOC("directory: {type: ad, realm: CORP.EX}\n"),
	    AUTHDOC(""));
	assert_true(policy_diff_escalates(d));
	json_decref(d);
}

/* Two digest consoles; DIR before them, and their user names. */
#define USERDOC(DIR, UB, US) \
	DIR "version: 1\nowner: a\nconsoles:\n  a:\n" \
	"    identity: {certificate: \"CN=a\"}\n    duties: [setup]\n" \
	"  big:\n    identity: {certificate: \"CN=big\"}\n" \
	"    duties: [redirection, power]\n    username: " UB "\n" \
	"  small:\n    identity: {certificate: \"CN=small\"}\n" \
	"    duties: [inventory]\n    username: " US "\n"

static void
test_username_and_directory(void **state)
{
	json_t *d;

	(void)state;
	/* Swapping digest user names moves big's rights to account beta. */
	d = diff_of(USERDOC("", "alpha", "beta"), USERDOC("", "beta",
	    "alpha"));
	assert_true(policy_diff_escalates(d));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    entry(d, "big"), "username"), "new")), "beta");
	json_decref(d);
	/* Another directory maps the Kerberos consoles' principals. */
	d = diff_of(AUTHDOC("directory: {type: ad, realm: CORP.EX}\n"),
	    AUTHDOC("directory: {type: mit, realm: EVIL.EX}\n"));
	assert_true(policy_diff_escalates(d));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    d, "directory"), "new")), "mit EVIL.EX");
	json_decref(d);
	/* ... but without a Kerberos console it is only shown. */
	d = diff_of(USERDOC("directory: {type: ad, realm: CORP.EX}\n", "alpha",
	    "beta"), USERDOC("directory: {type: ad, realm: OTHER.EX}\n",
	    "alpha", "beta"));
	assert_false(policy_diff_escalates(d));
	assert_non_null(json_object_get(d, "directory"));
	json_decref(d);
}

static void
test_findings(void **state)
{
	/* q's excess realm appears; moving lines keeps a finding matched */
	const char *bad = BASE
	    "  q:\n"
	    "    identity: {certificate: \"CN=q\"}\n"
	    "    duties: [power]\n"
	    "    realms: [RemoteControlRealm, RedirectionRealm]\n";
	json_t *d = diff_of(BASE, bad), *f;

	(void)state;
	assert_int_equal(json_array_size(json_object_get(d,
	    "findings_added")), 1);
	f = json_array_get(json_object_get(d, "findings_added"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "rule")),
	    "excess-realm");
	assert_string_equal(json_string_value(json_object_get(f, "file")),
	    "new.yaml");
	assert_int_equal(json_integer_value(json_object_get(f, "line")), 13);
	json_decref(d);

	{
		char moved[1024];

		snprintf(moved, sizeof(moved), "# two lines\n# above\n%s",
		    bad);
		d = diff_of(bad, moved);
		assert_int_equal(json_array_size(json_object_get(d,
		    "findings_added")), 0);
		assert_int_equal(json_array_size(json_object_get(d,
		    "findings_removed")), 0);
		json_decref(d);
	}
	/* fixed: it disappears, with its old position */
	d = diff_of(bad, BASE);
	assert_int_equal(json_array_size(json_object_get(d,
	    "findings_removed")), 1);
	f = json_array_get(json_object_get(d, "findings_removed"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "file")),
	    "old.yaml");
	json_decref(d);
}

static void
test_no_policy(void **state)
{
	json_t *d;

	(void)state;
	/* a policy file being added: every console is new */
	d = diff_of(NULL, BASE);
	assert_true(policy_diff_escalates(d));
	assert_int_equal(json_array_size(json_object_get(d, "consoles")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    d, "owner"), "new")), "a");
	json_decref(d);
	/* and removed: nothing gained */
	d = diff_of(BASE, NULL);
	assert_false(policy_diff_escalates(d));
	assert_int_equal(json_array_size(json_object_get(d, "consoles")), 2);
	json_decref(d);
	d = diff_of(NULL, NULL);
	assert_false(policy_diff_escalates(d));
	json_decref(d);
}

/* Render d in fmt into a new string. */
static char *
render(json_t *d, enum policy_diff_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(policy_diff_write(d, fmt, fp), CUST_OK);
	fclose(fp);
	return buf;
}

static void
test_render(void **state)
{
	/* An identity that tries Markdown and terminal tricks. */
	json_t *d = diff_of(BASE
	    "  q:\n"
	    "    identity: {certificate: \"CN=q\"}\n"
	    "    duties: [inventory]\n", BASE
	    "  q:\n"
	    "    identity: {certificate: \"CN=[x](http://evil.example) "
	    "<img>|\\e[31m\"}\n"
	    "    duties: [inventory, power]\n"), *j;
	char *out;
	json_error_t e;

	(void)state;
	out = render(d, POLICY_DIFF_TEXT);
	assert_non_null(strstr(out, "~ console q (changed) ESCALATION\n"
	    "    certificate: CN=q -> CN=[x](http://evil.example) "
	    "<img>|?[31m\n"));
	assert_null(strchr(out, '\033'));
	assert_non_null(strstr(out, "privilege escalation:\n"));
	free(out);

	out = render(d, POLICY_DIFF_MARKDOWN);
	assert_non_null(strstr(out, "**Privilege escalation.**"));
	assert_non_null(strstr(out, "\\[x\\]\\(http\\:\\/\\/evil\\.example\\) "
	    "\\<img\\>\\|\\?\\[31m"));
	assert_null(strstr(out, "[x](http"));
	assert_null(strstr(out, "<img>"));
	assert_null(strchr(out, '\033'));
	/* one table row per changed scope, with seven cells */
	assert_non_null(strstr(out, "| q | changed | every device | "
	    "RemoteControlRealm |  |  |  |\n"));
	free(out);

	out = render(d, POLICY_DIFF_JSON);
	assert_non_null(j = json_loads(out, 0, &e));
	assert_true(json_is_true(json_object_get(j, "escalation")));
	json_decref(j);
	free(out);
	json_decref(d);

	/* a pure reduction says so */
	d = diff_of(BASE "    access: any\n", BASE);
	out = render(d, POLICY_DIFF_MARKDOWN);
	assert_non_null(strstr(out, "**No privilege escalation:**"));
	free(out);
	out = render(d, POLICY_DIFF_TEXT);
	assert_non_null(strstr(out, "no privilege escalation\n"));
	free(out);
	json_decref(d);
}

static void
test_format_names(void **state)
{
	enum policy_diff_format f;

	(void)state;
	assert_int_equal(policy_diff_format_parse("markdown", &f), CUST_OK);
	assert_int_equal(f, POLICY_DIFF_MARKDOWN);
	assert_int_equal(policy_diff_format_parse("json", &f), CUST_OK);
	assert_int_equal(f, POLICY_DIFF_JSON);
	assert_int_equal(policy_diff_format_parse("text", &f), CUST_OK);
	assert_int_equal(f, POLICY_DIFF_TEXT);
	assert_int_equal(policy_diff_format_parse("sarif", &f),
	    CUST_E_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_new_console),
		cmocka_unit_test(test_realm_and_access),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_identity_and_owner),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_username_and_directory),
		cmocka_unit_test(test_findings),
		cmocka_unit_test(test_no_policy),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_format_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
