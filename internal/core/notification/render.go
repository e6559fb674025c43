package notification

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"unicode"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// Shop is what the emails say about the shop: its name and the base URL
// of its web front, to which "/orders/<id>" is added for an order's link.
type Shop struct {
	Name    string
	BaseURL string
}

// Renderer renders emails from the embedded templates. It is safe for
// concurrent use.
type Renderer struct {
	shop Shop
	base *url.URL
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewRenderer parses the templates for shop. The base URL must be an
// absolute http or https URL.
func NewRenderer(shop Shop) (*Renderer, error) {
	if strings.TrimSpace(shop.Name) == "" {
		return nil, errors.New("notification: the shop needs a name")
	}
	base, err := url.Parse(shop.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("notification: the shop's base URL must be an absolute http:// or https:// URL")
	}
	text, err := texttemplate.New("email").Option("missingkey=error").ParseFS(templateFiles, "templates/email.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("notification: text templates: %w", err)
	}
	html, err := htmltemplate.New("email").Option("missingkey=error").ParseFS(templateFiles, "templates/email.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("notification: HTML templates: %w", err)
	}
	for _, k := range Kinds() {
		for _, name := range []string{k.String() + ".subject", k.String() + ".text"} {
			if text.Lookup(name) == nil {
				return nil, fmt.Errorf("notification: no template %q", name)
			}
		}
		if html.Lookup(k.String()+".html") == nil {
			return nil, fmt.Errorf("notification: no template %q", k.String()+".html")
		}
	}
	return &Renderer{shop: shop, base: base, text: text, html: html}, nil
}

// view is what the templates see: every value already in words.
type view struct {
	Shop, Subject        string
	OrderID, Ref         string
	OrderURL             string
	Name                 string
	Lines                []lineView
	Total                string
	Reason, Detail       string
	Refund, CancelReason string
	CancelledBy          string
	Tracking             string
}

type lineView struct {
	Title                string
	Quantity             int
	UnitPrice, LineTotal string
}

// cancelWords says who cancelled an order.
var cancelWords = map[Actor]string{
	ActorCustomer: "You cancelled your order, as you asked.",
	ActorAdmin:    "Our team cancelled your order.",
}

// Render makes the subject and both parts of the email that notice n sends
// to buyer to.
func (r *Renderer) Render(n Notice, to Buyer) (Content, error) {
	if err := n.Validate(); err != nil {
		return Content{}, err
	}
	v := view{
		Shop:         r.shop.Name,
		OrderID:      n.OrderID,
		Ref:          ref(n.OrderID),
		OrderURL:     r.base.JoinPath("orders", n.OrderID).String(),
		Name:         oneLine(to.Name),
		Total:        FormatMoney(n.Total),
		Detail:       oneLine(n.Detail),
		Refund:       FormatMoney(n.Refund),
		CancelReason: oneLine(n.CancelReason),
		Tracking:     oneLine(n.Tracking),
	}
	if n.Kind == KindFailed {
		v.Reason = n.Reason.Words()
	}
	if n.Kind == KindCancelled {
		v.CancelledBy = "Your order was cancelled."
		if w, ok := cancelWords[n.Actor]; ok {
			v.CancelledBy = w
		}
	}
	for _, l := range n.Lines {
		v.Lines = append(v.Lines, lineView{Title: oneLine(l.Title), Quantity: l.Quantity,
			UnitPrice: FormatMoney(l.UnitPrice), LineTotal: FormatMoney(l.LineTotal)})
	}
	var c Content
	var b bytes.Buffer
	if err := r.text.ExecuteTemplate(&b, n.Kind.String()+".subject", v); err != nil {
		return Content{}, fmt.Errorf("notification: subject of %s: %w", n.Kind, err)
	}
	c.Subject = oneLine(b.String())
	v.Subject = c.Subject
	b.Reset()
	if err := r.text.ExecuteTemplate(&b, n.Kind.String()+".text", v); err != nil {
		return Content{}, fmt.Errorf("notification: text of %s: %w", n.Kind, err)
	}
	c.Text = b.String()
	b.Reset()
	if err := r.html.ExecuteTemplate(&b, n.Kind.String()+".html", v); err != nil {
		return Content{}, fmt.Errorf("notification: HTML of %s: %w", n.Kind, err)
	}
	c.HTML = b.String()
	return c, nil
}

// ref is the short order reference of subjects: the last eight characters
// of the id (the random end of a UUIDv7), upper case.
func ref(orderID string) string {
	s := strings.ReplaceAll(orderID, "-", "")
	if len(s) > 8 {
		s = s[len(s)-8:]
	}
	return "#" + strings.ToUpper(s)
}

// oneLine turns control characters (line breaks included) into spaces and
// trims: values from events end up in a header (the subject) and in lines
// of text, where a line break could forge structure.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
