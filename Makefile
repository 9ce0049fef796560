# custody - top-level Makefile
#
# Targets: all deps test check asan tsan lint fuzz bench run demo install clean.
# Sources are found by wildcard: a new src/<module>/*.c, tests/unit/<module>/
# test_*.c or tests/fuzz/fuzz_*.c is built without editing this file.

BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
STATE    ?= ./var

PKGS     := openssl libsodium sqlite3 jansson yaml-0.1 libevent_openssl \
            libevent_pthreads libcurl libsystemd libxml-2.0 kadm-client krb5 \
            krb5-gssapi ldap
# Read when make starts; targets that may have just installed packages
# (run, test, bench...) build through a second make, which reads them again.
# Package by package, so that a missing one (a CI image with only libyaml
# and jansson, building custody-policy) does not lose the others' paths.
PKG_CFLAGS := $(foreach p,$(PKGS),$(shell pkg-config --cflags $(p) 2>/dev/null))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
              echo -lssl -lcrypto -lsodium -lsqlite3 -ljansson -lyaml \
              -levent_openssl -levent_pthreads -levent -lcurl -lsystemd -lxml2 -lhttp_parser \
              -lkadm5clnt_mit -lgssapi_krb5 -lkrb5 -lk5crypto -lcom_err -lldap -llber)

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter
# OPT: optimisation and instrumentation; set it on the command line, not
# CFLAGS (the include paths and warnings below must stay).
OPT      ?= -O2 -g -D_FORTIFY_SOURCE=2
ifeq ($(SAN),1)
OPT      := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all
SANLD    := -fsanitize=address,undefined
endif
CFLAGS   := $(OPT) -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude $(PKG_CFLAGS) \
            -fstack-protector-strong -fPIE $(EXTRA_CFLAGS)
LDFLAGS  := -pie -Wl,-z,relro,-z,now $(SANLD) $(EXTRA_LDFLAGS)
# http-parser has no pkg-config file: named here (and in the fallback).
LDLIBS   := $(PKG_LIBS) -lhttp_parser -lm -pthread

LIB_SRCS  := $(sort $(filter-out src/cli/% src/policytool/% src/daemon/%,$(wildcard src/*/*.c)))
CLI_SRCS  := $(sort $(wildcard src/cli/*.c))
DAEMON_SRCS := $(sort $(wildcard src/daemon/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/*/test_*.c))
TEST_SUPPORT := $(sort $(wildcard tests/unit/support/*.c))
BENCH_SRCS := $(sort $(wildcard bench/*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
AMTSIM_SRCS := $(sort $(wildcard tests/amtsim/*.c))

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/obj/%.o)
POLICYTOOL_OBJS := $(BUILD)/obj/src/policytool/main.o
# What custody-policy is made of: the policy module, the libc-only
# utilities and the strict YAML tree (libyaml). Its own archive, so `make
# install-policy` compiles nothing that needs OpenSSL, libsodium or SQLite
# headers.
POLICY_LIB_SRCS := $(sort $(wildcard src/policy/*.c)) src/common/err.c \
	src/common/util.c src/common/arena.c src/common/ytree.c
POLICY_LIB := $(BUILD)/libcustody-policy.a
SUP_OBJS  := $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
LIB       := $(BUILD)/libcustody.a

# custody-policy, the CI checker, links the policy module with libyaml,
# jansson and libc only (tests/integration/policy_tool.sh checks ldd): a
# libsodium or OpenSSL symbol reaching those objects would fail this link.
POLICYTOOL_LIBS := $(shell pkg-config --libs yaml-0.1 jansson 2>/dev/null || \
              echo -lyaml -ljansson)

.PHONY: all deps test check asan tsan lint fuzz fuzz-build bench run demo \
	install install-policy clean

all: $(BUILD)/custodyctl $(BUILD)/custodyd $(BUILD)/custody-policy $(BUILD)/amtsim

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/custodyctl: $(CLI_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/custodyd: $(DAEMON_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(DAEMON_OBJS) $(LIB) $(LDLIBS)

# amtsim, the AMT device simulator the tests run against (tests/amtsim/).
AMTSIM_OBJS := $(AMTSIM_SRCS:%.c=$(BUILD)/obj/%.o)
$(AMTSIM_OBJS): tests/amtsim/amtsim.h
$(BUILD)/amtsim: $(AMTSIM_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(AMTSIM_OBJS) $(LDLIBS)
# Its known-answer tests (tests/unit/amtsim/) link its digest module.
$(BUILD)/tests/amtsim/%: tests/unit/amtsim/%.c $(SUP_OBJS) $(LIB) \
	    $(BUILD)/obj/tests/amtsim/auth.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit/support -Itests/amtsim $(LDFLAGS) -o $@ $< \
	  $(BUILD)/obj/tests/amtsim/auth.o $(SUP_OBJS) $(LIB) $(LDLIBS) -lcmocka

$(POLICY_LIB): $(POLICY_LIB_SRCS:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/custody-policy: $(POLICYTOOL_OBJS) $(POLICY_LIB)
	$(CC) $(LDFLAGS) -o $@ $(POLICYTOOL_OBJS) $(POLICY_LIB) $(POLICYTOOL_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(SUP_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit/support -Isrc $(LDFLAGS) -o $@ $< $(SUP_OBJS) $(LIB) $(LDLIBS) -lcmocka

# custodyctl's modules for its own unit tests (tests/unit/cli/): every CLI
# object but main's, in an archive so that a test links what it uses.
CLI_LIB := $(BUILD)/libcustodyctl.a
$(CLI_LIB): $(filter-out %/cli_main.o,$(CLI_OBJS))
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/cli/%: tests/unit/cli/%.c $(SUP_OBJS) $(CLI_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit/support -Isrc $(LDFLAGS) -o $@ $< $(SUP_OBJS) $(CLI_LIB) $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

deps:
	@sh scripts/deps.sh

# Unit tests (cmocka) and integration tests (tests/integration/*.sh), one
# summary line at the end: "N passed, N failed".
check: $(BUILD)/custodyctl $(BUILD)/custodyd $(BUILD)/custody-policy \
	$(BUILD)/amtsim $(UNIT_BINS)
	@sh tests/run.sh $(BUILD)

test: deps
	@$(MAKE) --no-print-directory check

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 check

# ThreadSanitizer: the library and the threaded unit tests rebuilt into
# build/tsan, then run.
TSAN_TESTS := audit/test_group
tsan: deps
	@$(MAKE) --no-print-directory BUILD=build/tsan \
	  OPT="-O1 -g -fsanitize=thread" EXTRA_LDFLAGS=-fsanitize=thread \
	  $(TSAN_TESTS:%=build/tsan/tests/%)
	@for t in $(TSAN_TESTS); do build/tsan/tests/$$t || exit 1; done

lint: deps
	@sh scripts/lint.sh

# libFuzzer harnesses (clang): the library rebuilt with coverage and
# sanitizers into build/fuzz, one binary per tests/fuzz/fuzz_*.c, each run
# FUZZTIME seconds over its seed corpus (tests/fuzz/corpus/<name>/).
FUZZTIME ?= 10
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/bin/%,$(FUZZ_SRCS))

fuzz-build: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang \
	  OPT="$(FUZZ_FLAGS)" build/fuzz/libcustody.a
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

build/fuzz/bin/%: tests/fuzz/%.c build/fuzz/libcustody.a
	@mkdir -p $(dir $@)
	clang $(subst fuzzer-no-link,fuzzer,$(FUZZ_FLAGS)) -std=c11 -D_GNU_SOURCE \
	  -Iinclude -Isrc -o $@ $< build/fuzz/libcustody.a $(LDLIBS)

fuzz: fuzz-build
	@sh tests/fuzz/run.sh build/fuzz/bin $(FUZZTIME)

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/custodyctl $(BENCH_BINS)
	@sh bench/run.sh $(BUILD)

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/custodyctl $(BUILD)/custodyd
	@sh scripts/run.sh $(BUILD) $(STATE)

# The narrated end-to-end demo (scripts/demo.sh): custodyd and amtsim with
# 50 simulated devices on loopback, state made afresh in DEMO.
DEMO     ?= ./var/demo
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/custodyctl $(BUILD)/custodyd \
	  $(BUILD)/amtsim
	@sh scripts/demo.sh $(BUILD) $(DEMO)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(BUILD)/custodyctl $(BUILD)/custody-policy \
	  $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(BUILD)/custodyd $(DESTDIR)$(PREFIX)/sbin/
	for m in man/*.1; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/; done; true
	for m in man/*.5; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man5/; done; true
	for m in man/*.8; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man8/; done; true
	install -D -m 0644 contrib/custodyctl.bash-completion \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/custodyctl

# The policy checker alone, for CI images: binary and its man pages.
install-policy: $(BUILD)/custody-policy
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0755 $(BUILD)/custody-policy $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 man/custody-policy.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/custody-policy.5 $(DESTDIR)$(PREFIX)/share/man/man5/

clean:
	rm -rf build
.SECONDARY:
