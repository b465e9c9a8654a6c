# unigo: a unikernel library OS for Go.
#
#   make build   build the unigo CLI, its launcher and network process into bin/
#   make run     build examples/httpd and boot it under the KVM launcher, port 8080 forwarded
#   make test    vet, gofmt check, and every test (unit and end-to-end)
#   make bench   the benchmark suite (unigo bench): boot phases, memory, SMP,
#                syscall cost, image size, as Markdown tables
#   make soak    examples/httpd under 1,000 connections for SOAK_TIME (unigo
#                bench -soak): errors, launcher, unigo-net and guest memory
#                (judged flat or not), still answers
#   make stdtest standard library packages' tests natively and in the guest
#                (unigo stdtest): a Markdown table and the tests that differ
#   make fuzz    every fuzz target for FUZZTIME each, then make sysfuzz
#   make sysfuzz the system-call fuzzer guest, seed after seed, for FUZZTIME
#   make clean   remove build outputs

# Go lives at /usr/local/go on the project machines; keep it reachable even
# from a shell whose PATH lacks it.
export PATH := $(PATH):/usr/local/go/bin

GO           ?= go
# The end-to-end tests boot many VMs (the stress scenario alone may take
# minutes under emulation), so the default 10m test timeout is too tight.
TEST_TIMEOUT ?= 60m
TEST_FLAGS   ?=
BENCH_FLAGS  ?=
FUZZTIME     ?= 10s
SOAK_TIME    ?= 60s
# The Go modules: the library (kernel, rt, abi, drivers, netstack, examples),
# the tools (CLI, launcher, image writer, benchmarks) and the end-to-end
# tests. Keeping the tools apart keeps their dependencies out of the module
# graph of every application that requires unigo.
MODULES      := . tools tests

.PHONY: all build run test vet fmt-check bench soak stdtest fuzz sysfuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) -C tools build -o $(CURDIR)/bin/ ./unigo ./unigo-vmm ./unigo-net

# make run boots examples/httpd with host port RUN_PORT forwarded to it
# (EXAMPLE=hello boots examples/hello, which needs no network).
EXAMPLE  ?= httpd
RUN_PORT ?= 8080

run: build
ifeq ($(EXAMPLE),httpd)
	@echo "unigo: booting examples/httpd; open http://127.0.0.1:$(RUN_PORT)/ (GET /quit or Ctrl-C stops it)"
	bin/unigo run -p $(RUN_PORT):8080 ./examples/httpd
else
	bin/unigo run ./examples/$(EXAMPLE)
endif

test: vet fmt-check
	@set -e; for m in $(MODULES); do \
		echo "== go test ($$m)"; \
		$(GO) -C $$m test -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...; \
	done

vet:
	@set -e; for m in $(MODULES); do \
		echo "== go vet ($$m)"; \
		$(GO) -C $$m vet -unsafeptr=false ./...; \
	done

# gofmt -l over every tracked or new Go file outside testdata; fails listing
# the files that need formatting.
fmt-check:
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path './bin/*' | xargs gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

bench: build
	bin/unigo bench $(BENCH_FLAGS)

soak: build
	bin/unigo bench -soak $(SOAK_TIME) $(BENCH_FLAGS)

# make stdtest runs every package of docs/STDTESTS.md (STDTEST_FLAGS, e.g.
# "-runner qemu" or "-check strings os"); CI runs a quick subset
# (tests/stdtest_test.go).
STDTEST_FLAGS ?=
stdtest: build
	bin/unigo stdtest $(STDTEST_FLAGS)

# go test -fuzz takes one target in one package at a time, so find every
# "func FuzzXxx" in a _test.go file and run each for FUZZTIME, from the
# package's directory (so that its own module is used).
fuzz:
	@set -e; n=0; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '/testdata/' | sort); do \
		dir=./$$(dirname $${f#./}); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== fuzz $$dir $$name ($(FUZZTIME))"; \
			$(GO) -C $$dir test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) .; \
			n=$$((n+1)); \
		done; \
	done; \
	echo "fuzz: $$n targets run"
	$(MAKE) sysfuzz FUZZTIME=$(FUZZTIME)

# make sysfuzz boots the system-call fuzzer guest (tests/guests/sysfuzz)
# seed after seed for FUZZTIME; SYSFUZZ_NET=1 uses the guest with the
# netstack linked, SYSFUZZ_ARGS passes guest flags (e.g. "-set all").
sysfuzz:
	cd tests && SYSFUZZ_TIME=$(FUZZTIME) SYSFUZZ_CALLS=$${SYSFUZZ_CALLS:-20000} \
		$(GO) test . -run '^TestSyscallFuzz$$' -count=1 -timeout 0 -v

clean:
	rm -rf bin
	find . -name '*.img' -not -path '*/testdata/*' -not -path './.git/*' -delete
