package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the server. Each has a flag and a BOOKWORM_*
// environment variable; a flag given on the command line wins over the
// variable, which wins over the default.
type config struct {
	Addr            string
	DatabaseURL     string
	Env             string
	Seed            bool
	SeedBooks       int
	TLSCert         string
	TLSKey          string
	AllowPlaintext  bool
	MaxRequestBytes int64
	CacheEntries    int
	SearchIndex     bool
	SearchVectors   bool
	ShutdownTimeout time.Duration
	LogLevel        string
	// Contexts are the bounded contexts this process serves, in registry
	// order (all by default).
	Contexts []string
	// CatalogURL is where the catalog is served when this process does not
	// serve it and a context here calls it.
	CatalogURL string
	// Auth is identity and access: the OIDC issuer, rate limits, CORS.
	Auth authConfig
	// Observability is metrics and traces.
	Observability obsConfig
	// Events is the event backbone: RabbitMQ, the outbox relay, the inbox.
	Events eventsConfig
	// Stripe is the Stripe payment gateway and its webhook.
	Stripe stripeConfig
	// Notification is the order emails: SMTP, the shop, the sender.
	Notification notificationConfig
	// Ordering is the checkout: payment gateway, saga timeouts, sweeper.
	Ordering orderingConfig
	// AI is Ollama and its models.
	AI aiConfig
	// MCP is the store's tools served to AI agents at /mcp.
	MCP mcpConfig
	// Assistant is the assistant's limits.
	Assistant assistantConfig
}

// envPrefix starts every environment variable the server reads.
const envPrefix = "BOOKWORM_"

// parseConfig reads the configuration from args and the environment given
// by getenv, and validates it.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(fs) }
	var problems []error
	str := func(p *string, name, def, usage string) {
		if v := getenv(envName(name)); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, usage+" (env "+envName(name)+")")
	}
	boolean := func(p *bool, name string, def bool, usage string) {
		if v := getenv(envName(name)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %q is not a boolean", envName(name), v))
			}
			def = b
		}
		fs.BoolVar(p, name, def, usage+" (env "+envName(name)+")")
	}
	integer := func(p *int, name string, def int, usage string) {
		if v := getenv(envName(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %q is not an integer", envName(name), v))
			}
			def = n
		}
		fs.IntVar(p, name, def, usage+" (env "+envName(name)+")")
	}
	duration := func(p *time.Duration, name string, def time.Duration, usage string) {
		if v := getenv(envName(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %q is not a duration", envName(name), v))
			}
			def = d
		}
		fs.DurationVar(p, name, def, usage+" (env "+envName(name)+")")
	}
	var maxRequestKiB int
	str(&c.Addr, "addr", "127.0.0.1:8080", "listen address host:port")
	str(&c.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/bookworm?sslmode=disable", "Postgres URL; the database is created when missing")
	str(&c.Env, "env", "dev", "deployment environment: dev or prod")
	boolean(&c.Seed, "seed", false, "load the demo catalog at start (idempotent)")
	integer(&c.SeedBooks, "seed-books", 300, "number of demo books --seed loads")
	str(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serves TLS 1.3 with HTTP/2 when set")
	str(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	boolean(&c.AllowPlaintext, "allow-plaintext", false, "allow plaintext (h2c) on a non-loopback address")
	integer(&maxRequestKiB, "max-request-kib", 1024, "largest request message accepted, in KiB")
	integer(&c.CacheEntries, "cache-entries", 20000, "books (and book references of cached list and search pages) kept in memory")
	boolean(&c.SearchIndex, "search-index", true, "rank lexical searches with an in-memory index of the search documents (about 0.5 KB a book); off: in Postgres")
	boolean(&c.SearchVectors, "search-vectors", true, "with the search index, rank semantic searches with in-memory HNSW graphs of the embeddings (4 bytes a dimension plus about 150 bytes a book); off: by pgvector")
	duration(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long shutdown waits for requests in flight")
	str(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	var contextList string
	str(&contextList, "contexts", strings.Join(contextNames(), ","), "the contexts this process serves, separated by commas")
	str(&c.CatalogURL, "catalog-url", "", "base URL (http:// for h2c, https://) of the catalog when another process serves it")
	var corsOrigins string
	authFlags(&c.Auth, str, boolean, integer, duration, &corsOrigins)
	var sampleRatio string
	obsFlags(&c.Observability, str, boolean, &sampleRatio)
	eventsFlags(&c.Events, str, integer, duration)
	stripeFlags(&c.Stripe, getenv, str)
	notificationFlags(&c.Notification, fs, getenv, str, boolean, integer, duration)
	orderingFlags(&c.Ordering, str, integer, duration)
	aiFlags(&c.AI, str, duration)
	mcpFlags(&c.MCP, boolean, duration)
	assistantFlags(&c.Assistant, integer, duration)
	err := fs.Parse(args)
	if err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	c.MaxRequestBytes = int64(maxRequestKiB) * 1024
	if c.Contexts, err = parseContexts(contextList); err != nil {
		problems = append(problems, err)
	}
	problems = append(problems, c.validate()...)
	problems = append(problems, c.Auth.finish(c, corsOrigins)...)
	problems = append(problems, c.Observability.finish(c, sampleRatio)...)
	problems = append(problems, c.Events.finish()...)
	problems = append(problems, c.Stripe.finish()...)
	problems = append(problems, c.Notification.finish()...)
	problems = append(problems, c.Ordering.finish()...)
	if c.Ordering.PaymentGateway == "stripe" {
		if err := c.Stripe.requireStripe(); err != nil {
			problems = append(problems, err)
		}
	}
	problems = append(problems, c.AI.finish()...)
	problems = append(problems, c.MCP.finish()...)
	problems = append(problems, c.Assistant.finish()...)
	if err := errors.Join(problems...); err != nil {
		return config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c config) validate() []error {
	var errs []error
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("addr %q: bad port", c.Addr))
	}
	if err := checkPostgresURL(c.DatabaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.Env != "dev" && c.Env != "prod" {
		errs = append(errs, fmt.Errorf("env %q must be dev or prod", c.Env))
	}
	if c.SeedBooks < 0 || c.SeedBooks > 1_000_000 {
		errs = append(errs, errors.New("seed-books must be between 0 and 1000000"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if c.TLSCert == "" && !c.AllowPlaintext && err == nil && !isLoopback(host) {
		errs = append(errs, fmt.Errorf("addr %q is not loopback: configure tls-cert/tls-key or set allow-plaintext", c.Addr))
	}
	if c.MaxRequestBytes < 1024 || c.MaxRequestBytes > 64<<20 {
		errs = append(errs, errors.New("max-request-kib must be between 1 and 65536"))
	}
	if c.CacheEntries < 0 {
		errs = append(errs, errors.New("cache-entries must not be negative"))
	}
	if c.CatalogURL != "" {
		if err := checkHTTPURL("catalog-url", c.CatalogURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Contexts != nil {
		errs = append(errs, c.validateContexts()...)
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown-timeout must be positive"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q must be debug, info, warn or error", c.LogLevel))
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// osGetenv is the real environment.
var osGetenv = os.Getenv
