# Arca build, test and benchmark entry points. `make test` is the whole suite.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         ?= bin/arca
FUZZTIME    ?= 60s

.PHONY: all build test unit e2e lint fmt-check bench bench-postgres fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/arca

# The whole suite: static checks, then every package (unit, fuzz seed
# corpora, integration and end-to-end) with the race detector. A failing
# package is run once more and reported as FLAKY (scripts/test.sh).
test: fmt-check
	$(GO) vet ./...
	GO=$(GO) ./scripts/test.sh

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/)

e2e:
	$(GO) test -race -count=1 -v ./test/e2e/

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

lint:
	$(GO) run $(STATICCHECK) ./...

# Long fuzzing: each target for FUZZTIME. `make test` runs only the seed corpora.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Throughput and CPU per operation, against Arca and against a bare net/http
# handler on the same machine. See docs/PERFORMANCE.md.
bench: build
	./scripts/bench.sh $(BIN)
	@if [ -x /usr/lib/postgresql/15/bin/initdb ]; then ./scripts/bench-postgres.sh $(BIN); \
	else echo "bench: PostgreSQL rows skipped: install the Debian package postgresql"; fi

# Only the 1, 2 and 3 nodes on PostgreSQL rows.
bench-postgres: build
	./scripts/bench-postgres.sh $(BIN)

clean:
	rm -rf bin
