package orderingstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// document is the jsonb form of the parts of an order no query selects on.
// Its field names are the stored format: rename none.
type document struct {
	BuyerEmail   string      `json:"buyer_email,omitempty"`
	BuyerName    string      `json:"buyer_name,omitempty"`
	Fingerprint  string      `json:"fingerprint"`
	Lines        []lineDoc   `json:"lines"`
	Currency     string      `json:"currency"`
	TotalMinor   int64       `json:"total_minor"`
	Address      addressDoc  `json:"address"`
	PaymentToken string      `json:"payment_token"`
	PaymentID    string      `json:"payment_id,omitempty"`
	ClientSecret string      `json:"client_secret,omitempty"`
	ActionExpiry *time.Time  `json:"action_expiry,omitempty"`
	Captured     bool        `json:"captured,omitempty"`
	Failure      *failureDoc `json:"failure,omitempty"`
	Compensation int         `json:"compensation,omitempty"`
	Attempts     int         `json:"attempts,omitempty"`
}

type lineDoc struct {
	BookID    string `json:"book_id"`
	Title     string `json:"title"`
	Quantity  int    `json:"quantity"`
	UnitMinor int64  `json:"unit_minor"`
	LineMinor int64  `json:"line_minor"`
}

type addressDoc struct {
	Name       string   `json:"name"`
	Lines      []string `json:"lines"`
	City       string   `json:"city"`
	Region     string   `json:"region,omitempty"`
	PostalCode string   `json:"postal_code"`
	Country    string   `json:"country"`
}

type failureDoc struct {
	Reason  int      `json:"reason"`
	Detail  string   `json:"detail,omitempty"`
	BookIDs []string `json:"book_ids,omitempty"`
}

func encodeDocument(s ordering.Snapshot) ([]byte, error) {
	d := document{
		BuyerEmail: s.Buyer.Email, BuyerName: s.Buyer.Name, Fingerprint: s.Fingerprint,
		Currency: s.Total.Currency(), TotalMinor: s.Total.Minor(), PaymentToken: s.PaymentToken, PaymentID: s.PaymentID,
		ClientSecret: s.Action.ClientSecret, Captured: s.Captured, Compensation: int(s.Compensation), Attempts: s.Attempts,
	}
	for _, l := range s.Lines {
		d.Lines = append(d.Lines, lineDoc{BookID: l.BookID, Title: l.Title, Quantity: l.Quantity,
			UnitMinor: l.UnitPrice.Minor(), LineMinor: l.LineTotal.Minor()})
	}
	a := s.Address.Fields()
	d.Address = addressDoc{Name: a.Name, Lines: a.Lines, City: a.City, Region: a.Region, PostalCode: a.PostalCode, Country: a.Country}
	if !s.Action.ExpiresAt.IsZero() {
		t := s.Action.ExpiresAt.UTC()
		d.ActionExpiry = &t
	}
	if s.Failure.Reason != ordering.ReasonNone || s.Failure.Detail != "" {
		d.Failure = &failureDoc{Reason: int(s.Failure.Reason), Detail: s.Failure.Detail, BookIDs: s.Failure.BookIDs}
	}
	return json.Marshal(d)
}

// decodeDocument fills the snapshot's document fields from b.
func decodeDocument(b []byte, s *ordering.Snapshot) error {
	var d document
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("ordering store: order %s: %w", s.ID, err)
	}
	s.Buyer.Email, s.Buyer.Name, s.Fingerprint = d.BuyerEmail, d.BuyerName, d.Fingerprint
	var err error
	if s.Total, err = money.New(d.Currency, d.TotalMinor); err != nil {
		return fmt.Errorf("ordering store: order %s: total: %w", s.ID, err)
	}
	for _, l := range d.Lines {
		unit, err := money.New(d.Currency, l.UnitMinor)
		if err != nil {
			return fmt.Errorf("ordering store: order %s: %w", s.ID, err)
		}
		total, err := money.New(d.Currency, l.LineMinor)
		if err != nil {
			return fmt.Errorf("ordering store: order %s: %w", s.ID, err)
		}
		s.Lines = append(s.Lines, ordering.Line{BookID: l.BookID, Title: l.Title, Quantity: l.Quantity, UnitPrice: unit, LineTotal: total})
	}
	if s.Address, err = ordering.NewAddress(ordering.AddressFields{Name: d.Address.Name, Lines: d.Address.Lines,
		City: d.Address.City, Region: d.Address.Region, PostalCode: d.Address.PostalCode, Country: d.Address.Country}); err != nil {
		return fmt.Errorf("ordering store: order %s: address: %w", s.ID, err)
	}
	s.PaymentToken, s.PaymentID, s.Captured = d.PaymentToken, d.PaymentID, d.Captured
	s.Action.ClientSecret = d.ClientSecret
	if d.ActionExpiry != nil {
		s.Action.ExpiresAt = d.ActionExpiry.UTC()
	}
	if d.Failure != nil {
		s.Failure = ordering.Failure{Reason: ordering.Reason(d.Failure.Reason), Detail: d.Failure.Detail, BookIDs: d.Failure.BookIDs}
	}
	s.Compensation, s.Attempts = ordering.Compensation(d.Compensation), d.Attempts
	return nil
}
