package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strconv"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/observability"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/notificationstore"
	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
	"github.com/bookworm-store/bookworm/internal/adapters/smtp"
	"github.com/bookworm-store/bookworm/internal/core/notification"
)

// notificationConfig is the notification context's part of the
// configuration: the SMTP server, what the emails say of the shop, and
// the sender's schedule.
type notificationConfig struct {
	// SMTPURL (smtp://user:password@host:port), when set, replaces
	// SMTPHost, SMTPPort, SMTPUsername and SMTPPassword.
	SMTPURL        string
	SMTPHost       string
	SMTPPort       int
	SMTPUsername   string
	SMTPPassword   string
	SMTPRequireTLS bool
	// MailFrom is the sender, "Name <address>".
	MailFrom string
	// ShopName and ShopURL appear in every email; an order's link is
	// ShopURL/orders/<id>.
	ShopName string
	ShopURL  string
	// SendInterval is how often new mail is looked for; RetryInterval how
	// often mail that failed temporarily is tried again (when its back-off
	// is over); CleanupInterval how often sent mail older than Retention
	// is deleted.
	SendInterval    time.Duration
	RetryInterval   time.Duration
	CleanupInterval time.Duration
	Retention       time.Duration
	MaxAttempts     int
	Backoff         time.Duration
}

// secretValue is a flag whose value --help never shows (its default comes
// from the environment).
type secretValue struct{ p *string }

func (s secretValue) String() string     { return "" }
func (s secretValue) Set(v string) error { *s.p = v; return nil }

// notificationFlags registers the flags of notificationConfig with the
// helpers of parseConfig; the password and the URL are registered on fs
// directly so that --help does not print them.
func notificationFlags(n *notificationConfig, fs *flag.FlagSet, getenv func(string) string,
	str func(*string, string, string, string),
	boolean func(*bool, string, bool, string),
	integer func(*int, string, int, string),
	duration func(*time.Duration, string, time.Duration, string),
) {
	secret := func(p *string, name, usage string) {
		*p = getenv(envName(name))
		fs.Var(secretValue{p}, name, usage+" (env "+envName(name)+"; never shown)")
	}
	secret(&n.SMTPURL, "smtp-url", "SMTP server as smtp://user:password@host:port; replaces the smtp-host, -port, -username and -password settings")
	str(&n.SMTPHost, "smtp-host", "127.0.0.1", "SMTP server host")
	integer(&n.SMTPPort, "smtp-port", 1025, "SMTP server port")
	str(&n.SMTPUsername, "smtp-username", "", "SMTP user name; authenticates when set (never in clear: STARTTLS or a challenge-response mechanism)")
	secret(&n.SMTPPassword, "smtp-password", "SMTP password")
	boolean(&n.SMTPRequireTLS, "smtp-require-tls", false, "refuse to send without STARTTLS (otherwise STARTTLS is used whenever the server offers it)")
	str(&n.MailFrom, "mail-from", "BookWorm <orders@bookworm.localhost>", "sender of the order emails")
	str(&n.ShopName, "shop-name", "BookWorm", "the shop's name in the emails")
	str(&n.ShopURL, "shop-url", "http://127.0.0.1:8080", "base URL of the shop's web front; an order's link is <shop-url>/orders/<id>")
	duration(&n.SendInterval, "mail-send-interval", 2*time.Second, "how often new emails are looked for and sent")
	duration(&n.RetryInterval, "mail-retry-interval", time.Hour, "how often emails whose delivery failed temporarily are tried again (once their back-off is over)")
	duration(&n.CleanupInterval, "mail-cleanup-interval", time.Hour, "how often sent emails older than mail-retention are deleted")
	duration(&n.Retention, "mail-retention", notification.DefaultRetention, "how long sent emails are kept")
	integer(&n.MaxAttempts, "mail-max-attempts", notification.DefaultMaxAttempts, "delivery attempts before an email is marked failed (a permanent failure is not retried at all)")
	duration(&n.Backoff, "mail-backoff", notification.DefaultBackoffBase, "wait after an email's first temporary failure, doubled after each further one")
}

// finish applies smtp-url and validates notificationConfig after parsing.
// No message quotes the URL or the password.
func (n *notificationConfig) finish() []error {
	var errs []error
	if n.SMTPURL != "" {
		if err := n.applySMTPURL(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.SMTPHost == "" {
		errs = append(errs, errors.New("smtp-host must not be empty"))
	}
	if n.SMTPPort < 1 || n.SMTPPort > 65535 {
		errs = append(errs, errors.New("smtp-port must be between 1 and 65535"))
	}
	if n.SMTPPassword != "" && n.SMTPUsername == "" {
		errs = append(errs, errors.New("smtp-password is set but smtp-username is not"))
	}
	if _, err := netmail.ParseAddress(n.MailFrom); err != nil {
		errs = append(errs, fmt.Errorf("mail-from %s is not an address (\"Name <user@host>\" or user@host)", quoteShort(n.MailFrom)))
	}
	if _, err := notification.NewRenderer(n.shop()); err != nil {
		errs = append(errs, errors.New("shop-name must not be empty and shop-url must be an absolute http:// or https:// URL"))
	}
	for name, d := range map[string]time.Duration{
		"mail-send-interval": n.SendInterval, "mail-retry-interval": n.RetryInterval,
		"mail-cleanup-interval": n.CleanupInterval, "mail-retention": n.Retention, "mail-backoff": n.Backoff,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if n.MaxAttempts < 1 || n.MaxAttempts > 100 {
		errs = append(errs, errors.New("mail-max-attempts must be between 1 and 100"))
	}
	return errs
}

// applySMTPURL reads smtp://user:password@host:port into the separate
// settings.
func (n *notificationConfig) applySMTPURL() error {
	u, err := parseURL("smtp-url", n.SMTPURL)
	if err != nil {
		return err
	}
	if u.Scheme != "smtp" {
		return fmt.Errorf("smtp-url must start with smtp:// (the scheme is %q)", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("smtp-url has no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("smtp-url must be smtp://[user[:password]@]host[:port] with nothing after the port")
	}
	if err := checkPort("smtp-url", u); err != nil {
		return err
	}
	n.SMTPHost, n.SMTPPort = u.Hostname(), 25
	if p := u.Port(); p != "" {
		n.SMTPPort, _ = strconv.Atoi(p)
	}
	n.SMTPUsername, n.SMTPPassword = "", ""
	if u.User != nil {
		n.SMTPUsername = u.User.Username()
		n.SMTPPassword, _ = u.User.Password()
	}
	return nil
}

func (n notificationConfig) shop() notification.Shop {
	return notification.Shop{Name: n.ShopName, BaseURL: n.ShopURL}
}

// mailCounters are the notification context's counters, shared by its
// consumer (queued) and its sender (sent, retried, failed, backlog).
func (in *infra) mailCounters() *notification.Counters {
	if in.mail == nil {
		in.mail = &notification.Counters{}
	}
	return in.mail
}

// notificationConsumers: the notification context queues an email for
// each buyer-visible ordering event.
func notificationConsumers(in *infra) []eventConsumer {
	r, err := notification.NewRenderer(in.cfg.Notification.shop())
	if err != nil {
		// Validated with the configuration; should it fail anyway, the
		// events wait in the queue (retried, then dead-lettered) rather
		// than being dropped.
		in.log.Error("notification: cannot render emails", slog.String("error", err.Error()))
		return []eventConsumer{{context: "notification", eventTypes: notificationstore.OrderEventTypes(),
			handler: func(context.Context, rabbitmq.Message) error { return err }}}
	}
	h := notificationstore.NewOrderEvents(in.pool, notification.NewNotifier(r, nil, in.mailCounters()), in.log)
	return []eventConsumer{{context: "notification", eventTypes: h.EventTypes(), handler: h.Handle}}
}

// buildNotification: the sender of the email outbox over SMTP, its retry
// and clean-up jobs, and its metrics. The SMTP server is not a readiness
// dependency: while it is down, mail waits in the outbox.
func buildNotification(_ context.Context, in *infra) (*servedContext, error) {
	n := in.cfg.Notification
	mailer, err := smtp.New(smtp.Config{
		Host: n.SMTPHost, Port: n.SMTPPort, Username: n.SMTPUsername, Password: n.SMTPPassword,
		From: n.MailFrom, RequireTLS: n.SMTPRequireTLS,
	})
	if err != nil {
		return nil, err
	}
	stats := in.mailCounters()
	sender, err := notification.NewSender(notificationstore.NewStore(in.pool), mailer, notification.SenderConfig{
		MaxAttempts: n.MaxAttempts, BackoffBase: n.Backoff, BackoffMax: max(n.Backoff, notification.DefaultBackoffMax),
		Retention: n.Retention,
	}, nil, in.log, stats)
	if err != nil {
		return nil, err
	}
	if err := in.obs.register(observability.NewMailCollector(func() observability.MailStats {
		s := stats.Stats()
		return observability.MailStats{Queued: s.Queued, Sent: s.Sent, Retried: s.Retried, Failed: s.Failed,
			Pending: s.Pending, OldestPending: s.OldestPending, MeasureTime: s.MeasureTime}
	})); err != nil {
		return nil, err
	}
	in.log.Info("sending order emails", slog.String("smtp_host", n.SMTPHost), slog.Int("smtp_port", n.SMTPPort),
		slog.Bool("smtp_auth", n.SMTPUsername != ""), slog.Bool("smtp_require_tls", n.SMTPRequireTLS))
	return &servedContext{
		dependencies: []string{"postgres", "rabbitmq"},
		loops: []loop{
			{name: "notification sender", run: func(ctx context.Context) error { return sender.RunSender(ctx, n.SendInterval) }},
			{name: "notification retries", run: func(ctx context.Context) error { return sender.RunRetries(ctx, n.RetryInterval) }},
			{name: "notification clean-up", run: func(ctx context.Context) error { return sender.RunCleanUp(ctx, n.CleanupInterval) }},
		},
	}, nil
}
