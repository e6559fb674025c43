package testenv

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

// TestOnlyTestsImportIt keeps containers out of production code: no
// non-test file of the module imports this package, except test-helper
// packages (named *test), which only tests may import.
func TestOnlyTestsImportIt(t *testing.T) {
	const self = "github.com/bookworm-store/bookworm/internal/testenv"
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || (d.Name() == "sdk" && path != root)) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if strings.HasPrefix(filepath.ToSlash(path), "../../internal/testenv/") {
			return nil
		}
		// Test-helper packages (pgtest, catalogtest, ...) may: the
		// adapters' architecture test keeps them out of production code.
		if strings.HasSuffix(filepath.Base(filepath.Dir(path)), "test") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				t.Errorf("%s imports %s: only tests may", path, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRecipeHashMatchesTheBuildScript: the tag the tests look for is the
// tag scripts/build-images.sh builds.
func TestRecipeHashMatchesTheBuildScript(t *testing.T) {
	for _, name := range []string{"postgres", "rabbitmq"} {
		out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "build-images.sh"), "--tag", name).Output()
		if err != nil {
			t.Fatalf("build-images.sh --tag %s: %v", name, err)
		}
		want, err := localImage(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("build-images.sh tags %s, testenv looks for %s", got, want)
		}
	}
}

// TestPostgresFaults stops, starts, pauses and unpauses a Postgres of the
// test's own: its address stays the same, it refuses connections while
// stopped, does not answer while paused, and serves its data afterwards.
func TestPostgresFaults(t *testing.T) {
	t.Parallel()
	p := NewPostgres(t)
	ctx := t.Context()
	url := p.NewDatabase(t)
	mustExec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	mustExec("CREATE TABLE t (n int); INSERT INTO t VALUES (42)")
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped Postgres")
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec("INSERT INTO t VALUES (43)")

	if err := p.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	conn, err := pgx.Connect(short, url)
	cancel()
	if err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a paused Postgres")
	}
	if err := p.Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var sum int
	if err := conn.QueryRow(ctx, "SELECT sum(n) FROM t").Scan(&sum); err != nil || sum != 85 {
		t.Fatalf("sum = %d, %v; want 85 (both rows, across the restart)", sum, err)
	}
}

// TestRabbitMQFaults restarts a broker of the test's own: the same URL
// works afterwards, durable queues survive, and rabbitmqctl runs in it.
func TestRabbitMQFaults(t *testing.T) {
	t.Parallel()
	r := NewRabbitMQ(t)
	ctx := t.Context()
	withChannel := func(fn func(*amqp.Channel) error) error {
		conn, err := amqp.Dial(r.URL)
		if err != nil {
			return err
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		return fn(ch)
	}
	if err := withChannel(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare("testenv-durable", true, false, false, false, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := amqp.Dial(r.URL); err == nil {
		t.Fatal("dialled a stopped RabbitMQ")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	queues, err := r.Queues(ctx, "testenv-")
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) != 1 || queues[0] != "testenv-durable" {
		t.Fatalf("queues after the restart = %q, want the durable one", queues)
	}
	if err := r.DeleteTopology(ctx, "testenv-"); err != nil {
		t.Fatal(err)
	}
	if queues, _ := r.Queues(ctx, "testenv-"); len(queues) != 0 {
		t.Fatalf("queues after DeleteTopology = %q", queues)
	}
}

// TestNoContainerRemains: the containers a test started are gone once it
// has ended, and the package's servers are shared by every caller.
func TestNoContainerRemains(t *testing.T) {
	e, why := getEngine()
	if e == nil {
		t.Skipf("no container engine: %s", why)
	}
	if Postgres(t) != Postgres(t) || RabbitMQ(t) != RabbitMQ(t) {
		t.Error("the package's servers differ between calls")
	}
	var name string
	t.Run("starts", func(t *testing.T) {
		name = t.Name()
		NewPostgres(t)
		ids, err := runContainers(e, "org.bookworm.testenv.test="+name)
		if err != nil || len(ids) != 1 {
			t.Fatalf("containers of the test = %v, %v; want one", ids, err)
		}
	})
	ids, err := runContainers(e, "org.bookworm.testenv.test="+name)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 0 {
		t.Fatalf("containers %v remain after the test's cleanup", ids)
	}
	var shared *Container
	if err := shared.Stop(t.Context()); !errors.Is(err, ErrShared) {
		t.Errorf("Stop of a shared server = %v, want ErrShared", err)
	}
}
