package notification

import "errors"

// Skip says why a notice made no email.
type Skip int

// The reasons a notice makes no email.
const (
	// SkipNone: the notice makes an email.
	SkipNone Skip = iota
	// SkipSeen: an email for this version or a newer one of the order was
	// queued already. The same change announced twice (the ordering
	// sweeper announces a placement again with its version) or an event
	// that arrives after a later one (the buyer knows better already).
	SkipSeen
	// SkipBadAddress: the buyer's address is not one an SMTP server takes.
	SkipBadAddress
	// SkipNoAddress: the buyer has no email address (their token carried
	// none when they placed the order). Nothing can be mailed, now or
	// later: the notice is done, not retried.
	SkipNoAddress
)

// String names the reason, for logs and metrics.
func (s Skip) String() string {
	switch s {
	case SkipNone:
		return "none"
	case SkipSeen:
		return "seen"
	case SkipBadAddress:
		return "bad address"
	case SkipNoAddress:
		return "no address"
	}
	return "unknown"
}

// ErrNoRecipient is returned for a notice that names no buyer about an
// order whose buyer the context has not heard of yet (an OrderCompleted
// that overtook the order's earlier events). Retrying later can succeed.
var ErrNoRecipient = errors.New("notification: no buyer known for the order yet")

// Decide applies notice n to the order's state st: it remembers the buyer
// when n names one, and says whether n makes an email and to whom. It is
// the rule that makes duplicated and reordered events harmless: an order
// gets at most one email per version, and none for a version older than
// one it was mailed about. st is changed only when err is nil.
func Decide(st *OrderState, n Notice) (to Buyer, skip Skip, err error) {
	if err := n.Validate(); err != nil {
		return Buyer{}, SkipNone, err
	}
	buyer := st.Buyer
	if n.Buyer.Email != "" {
		buyer = n.Buyer
		st.NoAddress = false
	} else if n.Kind.NamesBuyer() && st.Buyer.Email == "" {
		// The event names the buyer as the order has it, and it has no
		// address: remembered, so that later notices that name nobody
		// (completed) are not retried for a buyer that will never come.
		st.NoAddress = true
	}
	if n.Version <= st.MailedVersion {
		st.Buyer = buyer
		return Buyer{}, SkipSeen, nil
	}
	if buyer.Email == "" {
		if st.NoAddress {
			return Buyer{}, SkipNoAddress, nil
		}
		return Buyer{}, SkipNone, ErrNoRecipient
	}
	st.Buyer = buyer
	if !validAddress(buyer.Email) {
		return Buyer{}, SkipBadAddress, nil
	}
	st.MailedVersion = n.Version
	return buyer, SkipNone, nil
}
