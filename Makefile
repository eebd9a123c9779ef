# The targets are the commands the README shows.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@2025.1.1

.PHONY: dev test lint vet unit bench build

## dev: start PostgreSQL (private cluster under ./.tenantd), migrate, seed the demo data, serve on :8080
dev:
	$(GO) run ./cmd/tenantd dev

## test: everything CI checks: formatting, vet, staticcheck, tenantlint, and all tests with -race
test: lint unit

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...
	$(GO) run ./cmd/tenantlint ./...

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

## bench: the guarded-versus-bare benchmark of GET /api/bookings/{id}, and the cost of each part of a tenant-bound read
bench:
	$(GO) test ./internal/httpapi -run '^$$' -bench BookingGet -benchtime 15x -count 6
	$(GO) test ./internal/httpapi -run '^$$' -bench ReadStatements -benchtime 10x -count 6

build:
	$(GO) build -o tenantd ./cmd/tenantd
