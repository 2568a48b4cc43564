// Package e2e is the end-to-end suite of the example domain (examples/README.md): it
// builds evented and starts it as a real process (SQLite in a temporary
// directory, ports on 127.0.0.1 chosen free), starts one language's seven
// example services as real processes, waits until they answer, runs the
// scenarios of features/*.feature — the same text for every language —
// and stops everything.
//
//	go test ./tests/e2e/...                       # the Go examples (the default)
//	go test ./tests/e2e/... -lang=python          # or E2E_LANG=python
//	go test ./tests/e2e/... -lang=rust -v         # -v shows the scenarios
//	go test ./tests/e2e/... -godog.tags=@receipt  # some scenarios only
//
// evented is configured with examples/config.yaml, only its ports (command,
// query and admin), the services' addresses and the database path changed. A language whose examples are not in
// the checkout is skipped with the reason (go test -v shows it), or fails
// when E2E_REQUIRE is set — CI sets it for every language it runs, so
// nothing is skipped there unnoticed; -short skips the suite.
//
// TestSecureClients (secure_test.go) starts evented alone, with TLS (a CA
// and a server certificate made for the test) and auth.tokens_file (one
// token with the roles command and query, one with query only), and runs
// one client against it, chosen by the same -lang: go runs the evented
// CLI, python tests/e2e/secure/client.py with the SDK of this checkout,
// rust the SDK's example secure_client. Each sends a command and reads its
// event back, and checks that the query-only token is refused with
// PERMISSION_DENIED, no token with UNAUTHENTICATED, and another CA at the
// handshake. A missing toolchain skips it, or fails it under E2E_REQUIRE.
//
// # Starting a language's services
//
// Every service is started with these environment variables, and must
// listen on LISTEN_HOST:PORT (the contract of every example, whatever its
// language):
//
//	PORT                  the port to listen on
//	LISTEN_HOST           127.0.0.1
//	EVENTED_COMMAND_ADDR  evented's command port (host:port), if a service needs it
//	EVENTED_QUERY_ADDR    evented's query port (host:port)
//	TRANSACTION_TIMEOUT   3: seconds an open transaction waits for its timeout deadline
//
// A service is ready when its port accepts connections. How each language
// is built and started (launch_test.go):
//
//	go      go build -o DIR/ ./cmd/evented ./examples/go/<service>...; DIR/<service>
//	python  $E2E_PYTHON examples/python/<service>/main.py (default: .venv/bin/python,
//	        the virtualenv of examples/python/requirements.txt, if any, else python3)
//	rust    cargo build --bins (the Cargo workspace at the repository root);
//	        target/debug/<service> (under $CARGO_TARGET_DIR when set)
//
// where <service> is customer, transaction, saga-loyalty,
// projector-receipt, projector-log-customer, projector-log-transaction or
// projector-loyalty.
// E2E_LAUNCH overrides the start command for any language: a shell command
// run from the repository root, with {service} replaced by the service's
// name and {module} by the same with underscores (saga_loyalty), e.g.
//
//	cargo build --release --bins
//	E2E_LANG=rust E2E_LAUNCH='exec target/release/{service}' go test ./tests/e2e/...
//
// The log projectors must write one JSON object per event on standard
// output with the keys projector, domain, root, sequence and type (see
// examples/go/internal/eventlog): the suite reads them.
//
// The loyalty balance projector (projector-loyalty, loyalty-balance in the
// configuration) must return a LoyaltyBalance for every book: the suite
// reads it with a subscription query right after a command that waited for
// it (read-your-writes), and runs the Go example client
// examples/go/loyalty-watch, built whatever the language, to watch it
// change.
package e2e
