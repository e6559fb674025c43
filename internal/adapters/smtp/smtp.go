// Package smtp is the notification context's Mailer over SMTP, on
// github.com/wneessen/go-mail: one connection per email, STARTTLS whenever
// the server offers it (or required, when configured), authentication when
// a user name is configured (never in clear text: without TLS only the
// challenge-response mechanisms are used), and a Message-ID made from the
// outbox row's id, so that every attempt of one email carries the same.
//
// Failures are classified for the sender's retries: a 5xx answer to MAIL
// FROM, RCPT TO or the data (an unknown mailbox, say) is permanent; 4xx
// answers, refused connections, timeouts, TLS and authentication trouble
// are temporary (the email is not at fault, the server or its settings
// are, and fixing them lets it through).
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/bookworm-store/bookworm/internal/core/notification"
)

// Config is how the Mailer reaches its SMTP server.
type Config struct {
	// Host and Port of the server (default port 25).
	Host string
	Port int
	// Username and Password authenticate when Username is set. The
	// password is never logged nor put in an error.
	Username string
	Password string
	// From is the sender, "Name <address>" or an address. Its domain is
	// the Message-ID's.
	From string
	// RequireTLS refuses to send without STARTTLS; otherwise STARTTLS is
	// used whenever the server offers it.
	RequireTLS bool
	// TLSConfig verifies the server; nil for the system's roots and Host
	// as the server name.
	TLSConfig *tls.Config
	// Timeout bounds the connection and each command (default 30s); the
	// context of Send bounds the whole delivery.
	Timeout time.Duration
	// HELO is the name the client greets with (default "localhost").
	HELO string
}

// Mailer is notification.Mailer over SMTP. It is safe for concurrent use:
// every Send has a connection of its own.
type Mailer struct {
	cfg    Config
	from   *netmail.Address
	domain string
}

var _ notification.Mailer = (*Mailer)(nil)

// New checks cfg and returns its Mailer. It does not connect: mail waits
// in the outbox while the server is down.
func New(cfg Config) (*Mailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, errors.New("smtp: port must be between 1 and 65535")
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("smtp: a password without a user name")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: the sender address is not valid: %v", err)
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HELO == "" {
		cfg.HELO = "localhost"
	}
	return &Mailer{cfg: cfg, from: from, domain: domain}, nil
}

// MessageID is the Message-ID (without angle brackets) of every attempt
// of the outbox row emailID.
func (m *Mailer) MessageID(emailID string) string { return emailID + "@" + m.domain }

// client makes the go-mail client of one delivery.
func (m *Mailer) client() (*mail.Client, error) {
	policy := mail.TLSOpportunistic
	if m.cfg.RequireTLS {
		policy = mail.TLSMandatory
	}
	tlsConfig := m.cfg.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	opts := []mail.Option{
		mail.WithPort(m.cfg.Port),
		mail.WithTLSPolicy(policy),
		mail.WithTLSConfig(tlsConfig),
		mail.WithTimeout(m.cfg.Timeout),
		mail.WithHELO(m.cfg.HELO),
	}
	if m.cfg.Username != "" {
		// Autodiscovery picks the strongest mechanism the server offers,
		// and never PLAIN or LOGIN on a connection without TLS.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(m.cfg.Username), mail.WithPassword(m.cfg.Password))
	}
	return mail.NewClient(m.cfg.Host, opts...)
}

// message builds the MIME message of e: a plain-text part and its HTML
// alternative.
func (m *Mailer) message(e notification.Email) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.FromFormat(m.from.Name, m.from.Address); err != nil {
		return nil, fmt.Errorf("smtp: sender: %w", err)
	}
	if err := msg.AddToFormat(e.To.Name, e.To.Email); err != nil {
		return nil, notification.Permanent(errors.New("smtp: the recipient address is not valid"))
	}
	msg.Subject(e.Subject)
	msg.SetMessageIDWithValue(m.MessageID(e.ID))
	msg.SetDate()
	msg.SetUserAgent("BookWorm")
	// RFC 3834: a machine wrote it; auto-responders should not answer.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(mail.TypeTextPlain, e.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	return msg, nil
}

// Send implements notification.Mailer.
func (m *Mailer) Send(ctx context.Context, e notification.Email) error {
	msg, err := m.message(e)
	if err != nil {
		return err
	}
	c, err := m.client()
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return classify(c.DialAndSendWithContext(ctx, msg), e.To.Email, m.cfg.Password)
}

// permanentReasons are the steps where a 5xx answer is about this email.
var permanentReasons = map[mail.SendErrReason]bool{
	mail.ErrSMTPMailFrom: true, mail.ErrSMTPRcptTo: true, mail.ErrSMTPData: true, mail.ErrSMTPDataClose: true,
	mail.ErrGetSender: true, mail.ErrGetRcpts: true,
}

// classify turns go-mail's error into the sender's: permanent or not, and
// with a text that names neither the recipient (servers and go-mail quote
// it) nor the password.
func classify(err error, recipient, password string) error {
	if err == nil {
		return nil
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		out := errors.New(scrub("smtp: "+se.Error(), recipient, password))
		if code := se.ErrorCode(); code >= 500 && code < 600 && permanentReasons[se.Reason] {
			return notification.Permanent(out)
		}
		return out
	}
	return errors.New(scrub("smtp: "+err.Error(), recipient, password))
}

// scrub removes the recipient's address and the password from s.
func scrub(s, recipient, password string) string {
	if recipient != "" {
		s = strings.ReplaceAll(s, recipient, "<recipient>")
	}
	if password != "" {
		s = strings.ReplaceAll(s, password, "<password>")
	}
	return s
}
