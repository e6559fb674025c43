// Package testenv gives tests the Postgres and RabbitMQ they run on: servers
// of their own, in containers started through testcontainers-go, one pair
// per test binary (that is, per package), plus exclusive ones for tests that
// inject faults (stop, start, pause and unpause a server).
//
// Only tests import it (a test of this package enforces that). A package
// that uses it runs its tests through [Run]:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
//
// and then, in a test or in TestMain:
//
//	pg := testenv.Postgres(t)            // the package's server
//	url := pg.NewDatabase(t)             // a fresh database, dropped at cleanup
//	mq := testenv.RabbitMQ(t)            // the package's broker: mq.URL
//	own := testenv.NewRabbitMQ(t)        // a broker of the test's own
//	own.Stop(ctx); own.Start(ctx)        // same address after the restart
//
// Engine: the Docker API at DOCKER_HOST, or podman's socket
// /run/podman/podman.sock when it exists (scripts/container-engine.sh sets
// it up). There is no reaper (its image cannot be pulled here): Run
// terminates every container it started, also when the tests fail or the
// binary gets SIGINT/SIGTERM, removes containers left by an earlier binary
// that died, and fails the run when a container of its own remains.
//
// Images: built from Debian packages by scripts/build-images.sh, tagged by a
// hash of their recipe in images/ (built on first use when missing). With
// BOOKWORM_TEST_IMAGES=official the official pgvector/pgvector:pg15 (Postgres 15
// with pgvector) and rabbitmq:3
// images are pulled instead, for machines with a real Docker and a registry.
//
// Fallback: when no engine answers, the package's servers are the machine's
// shared ones (BOOKWORM_TEST_DATABASE_URL and BOOKWORM_TEST_AMQP_URL, or the
// local defaults), with a loud log line; tests that need servers of their own
// are skipped. With BOOKWORM_REQUIRE_CONTAINERS=1 (CI) the fallback is an
// error instead.
package testenv
