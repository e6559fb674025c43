package ordering

import (
	"errors"
	"slices"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// The saga's transitions answer events from the catalog and the gateway.
// Those arrive at least once and may be late (after a timeout failed the
// order) or repeated: a step that already happened, or that a later status
// has overtaken, changes nothing and raises nothing. What a late answer
// leaves behind is put right by compensation (see Compensation), not by an
// error that would only make the broker redeliver it.

// ReserveStock moves a Pending order on once the catalog reserved its
// stock; paymentDeadline is when the sweeper retries the payment if no
// answer came.
func (o *Order) ReserveStock(now, paymentDeadline time.Time) []Event {
	if o.status != StatusPending {
		return nil
	}
	o.move(StatusStockReserved, System, "stock reserved", now)
	o.deadline = paymentDeadline.UTC()
	return nil
}

// RejectStock fails a Pending order the catalog could not reserve stock for.
// Nothing is held, so nothing is released.
func (o *Order) RejectStock(reason Reason, bookIDs []string, now time.Time) []Event {
	if o.status != StatusPending {
		return nil
	}
	if reason != ReasonBookUnavailable {
		reason = ReasonOutOfStock
	}
	ids := slices.Clone(bookIDs)
	slices.Sort(ids)
	detail := "not enough copies in stock"
	if reason == ReasonBookUnavailable {
		detail = "a book is no longer sold"
	}
	return o.failWith(Failure{Reason: reason, Detail: detail, BookIDs: slices.Compact(ids)}, CompensationNone, now)
}

// failWith moves the order to Failed and raises OrderFailed.
func (o *Order) failWith(f Failure, comp Compensation, now time.Time) []Event {
	o.move(StatusFailed, System, f.Detail, now)
	o.fail = f
	o.action = PaymentAction{}
	o.setCompensation(comp, now)
	return []Event{OrderFailed{Meta: o.meta(now), Buyer: o.buyer, Failure: f, ReleaseStock: f.Reason.stockHeld()}}
}

func (o *Order) setCompensation(c Compensation, now time.Time) {
	o.compensation = c
	o.deadline = time.Time{}
	if c.Due() {
		// Due now: the use case calls the gateway right after saving; the
		// sweeper finds it if that call is lost.
		o.deadline = now.UTC()
	}
}

// ChargeOutcome is the result of a charge as the gateway reports it.
type ChargeOutcome int

// The outcomes of a charge.
const (
	ChargeSucceeded ChargeOutcome = iota + 1
	ChargeRequiresAction
	ChargeDeclined
	ChargeInsufficientFunds
	// ChargeFailed is any other permanent refusal (an invalid token, say).
	ChargeFailed
)

// ChargeResult is what the gateway answered to a charge.
type ChargeResult struct {
	Outcome   ChargeOutcome
	PaymentID string
	// ClientSecret is set with ChargeRequiresAction.
	ClientSecret string
	// Detail is a client-safe explanation of a refusal.
	Detail string
}

// ApplyCharge applies the gateway's answer to the order's charge.
// actionDeadline is when an action the customer must take expires. An answer
// that arrives for a failed or cancelled order (a charge in flight when the
// order timed out or was cancelled) leaves the order as it is and makes the
// captured money due for a refund, or the pending payment due for a void.
func (o *Order) ApplyCharge(r ChargeResult, actionDeadline, now time.Time) ([]Event, error) {
	switch o.status {
	case StatusStockReserved, StatusAwaitingPayment:
		o.notePayment(r.PaymentID)
	case StatusConfirmed, StatusShipped, StatusCompleted:
		return nil, nil
	case StatusFailed, StatusCancelled:
		o.notePayment(r.PaymentID)
		switch {
		case r.Outcome == ChargeSucceeded && o.compensation != CompensationRefunded:
			o.captured = true
			o.setCompensation(CompensationRefundDue, now)
		case r.Outcome == ChargeRequiresAction && o.compensation == CompensationNone:
			o.setCompensation(CompensationVoidDue, now)
		}
		return nil, nil
	default:
		return nil, failure.FailedPrecondition("order %s is %s: it has no payment to take", o.id, o.status)
	}
	switch r.Outcome {
	case ChargeSucceeded:
		o.move(StatusConfirmed, System, "payment captured", now)
		o.captured = true
		o.action = PaymentAction{}
		o.deadline = time.Time{}
		return []Event{
			PaymentSucceeded{Meta: o.meta(now), Amount: o.total, PaymentID: o.paymentID},
			OrderConfirmed{Meta: o.meta(now), Buyer: o.buyer, Lines: o.Lines(), Total: o.total},
		}, nil
	case ChargeRequiresAction:
		if o.status == StatusAwaitingPayment {
			return nil, nil
		}
		if r.ClientSecret == "" {
			return nil, errors.New("ordering: a payment that requires action came without a client secret")
		}
		o.move(StatusAwaitingPayment, System, "payment requires customer action", now)
		o.action = PaymentAction{ClientSecret: r.ClientSecret, ExpiresAt: actionDeadline.UTC()}
		o.deadline = actionDeadline.UTC()
		return []Event{PaymentActionRequired{Meta: o.meta(now), PaymentID: o.paymentID, ExpiresAt: actionDeadline.UTC()}}, nil
	case ChargeDeclined, ChargeInsufficientFunds, ChargeFailed:
		reason, detail := ReasonPaymentDeclined, "the card was declined"
		switch {
		case r.Outcome == ChargeInsufficientFunds:
			reason, detail = ReasonInsufficientFunds, "the card has insufficient funds"
		case r.Outcome == ChargeFailed:
			reason, detail = ReasonPaymentError, "the payment could not be processed"
		case o.status == StatusAwaitingPayment:
			reason, detail = ReasonPaymentActionFailed, "the payment was not authenticated"
		}
		comp := CompensationNone
		if o.status == StatusAwaitingPayment {
			comp = CompensationVoidDue
		}
		f := Failure{Reason: reason, Detail: detail}
		evs := o.failWith(f, comp, now)
		return append([]Event{PaymentFailed{Meta: o.meta(now), Reason: reason, Detail: detail}}, evs...), nil
	}
	return nil, errors.New("ordering: unknown charge outcome")
}

// notePayment keeps the gateway's first payment id, which a refund names.
func (o *Order) notePayment(id string) {
	if id != "" && o.paymentID == "" {
		o.paymentID = id
	}
}

// RetryPaymentLater records a temporary gateway error: the sweeper charges
// again (with the same idempotency key) at next.
func (o *Order) RetryPaymentLater(next time.Time) {
	if o.status != StatusStockReserved {
		return
	}
	o.attempts++
	o.deadline = next.UTC()
}

// RetryStock asks the catalog again for a Pending order whose reservation
// went unanswered: it raises OrderPlaced again (same version; the catalog
// answers a repeated reservation with its first answer).
func (o *Order) RetryStock(next, now time.Time) []Event {
	if o.status != StatusPending {
		return nil
	}
	o.attempts++
	o.deadline = next.UTC()
	return []Event{o.placedEvent(now)}
}

// TimeOut fails an order whose current saga step stayed unanswered after its
// retries: the stock reservation, the payment, or the customer's action. The
// catalog is told to release whatever it may hold, and a payment that may
// exist is voided.
func (o *Order) TimeOut(now time.Time) []Event {
	switch o.status {
	case StatusPending:
		return o.failWith(Failure{Reason: ReasonStockTimeout, Detail: "the stock could not be reserved in time"}, CompensationNone, now)
	case StatusStockReserved:
		return o.failWith(Failure{Reason: ReasonPaymentTimeout, Detail: "the payment timed out"}, CompensationVoidDue, now)
	case StatusAwaitingPayment:
		return o.failWith(Failure{Reason: ReasonPaymentActionFailed, Detail: "the payment was not completed in time"}, CompensationVoidDue, now)
	}
	return nil
}

// Cancel cancels the order. The buyer may while it is Pending, awaiting
// their payment action or Confirmed (not while a payment is in flight); an
// admin at any time before it is shipped. Cancelling a cancelled order
// changes nothing. Captured money becomes due for a refund, a pending
// payment for a void.
func (o *Order) Cancel(actor Actor, reason string, now time.Time) ([]Event, error) {
	if o.status == StatusCancelled {
		return nil, nil
	}
	allowed := CanTransition(o.status, StatusCancelled)
	if actor.Kind == ActorCustomer && o.status == StatusStockReserved {
		return nil, failure.FailedPrecondition("order %s is being paid; try again in a moment", o.id)
	}
	if actor.Kind != ActorCustomer && actor.Kind != ActorAdmin {
		return nil, errors.New("ordering: only customers and admins cancel orders")
	}
	if !allowed {
		return nil, o.refuse(StatusCancelled)
	}
	prev := o.status
	if reason == "" {
		reason = "cancelled"
	}
	o.move(StatusCancelled, actor, reason, now)
	o.action = PaymentAction{}
	var refund money.Money
	switch {
	case o.captured:
		refund = o.total
		o.setCompensation(CompensationRefundDue, now)
	case prev == StatusStockReserved || prev == StatusAwaitingPayment:
		o.setCompensation(CompensationVoidDue, now)
	default:
		o.setCompensation(CompensationNone, now)
	}
	return []Event{OrderCancelled{Meta: o.meta(now), Buyer: o.buyer, PreviousStatus: prev, Actor: actor, Reason: reason, Refund: refund, ReleaseStock: true}}, nil
}

// Ship marks a Confirmed order shipped; shipping it again changes nothing.
func (o *Order) Ship(actor Actor, trackingNumber string, now time.Time) ([]Event, error) {
	switch {
	case o.status == StatusShipped:
		return nil, nil
	case !CanTransition(o.status, StatusShipped):
		return nil, o.refuse(StatusShipped)
	}
	reason := "shipped"
	if trackingNumber != "" {
		reason = "shipped, tracking number " + trackingNumber
	}
	o.move(StatusShipped, actor, reason, now)
	return []Event{OrderShipped{Meta: o.meta(now), Buyer: o.buyer, TrackingNumber: trackingNumber}}, nil
}

// Complete marks a Shipped order delivered; completing it again changes
// nothing.
func (o *Order) Complete(actor Actor, now time.Time) ([]Event, error) {
	switch {
	case o.status == StatusCompleted:
		return nil, nil
	case !CanTransition(o.status, StatusCompleted):
		return nil, o.refuse(StatusCompleted)
	}
	o.move(StatusCompleted, actor, "delivered", now)
	return []Event{OrderCompleted{Meta: o.meta(now), UserID: o.buyer.UserID}}, nil
}

// Compensated records that the gateway confirmed the void or refund that was
// due.
func (o *Order) Compensated() {
	switch o.compensation {
	case CompensationVoidDue:
		o.compensation = CompensationVoided
	case CompensationRefundDue:
		o.compensation = CompensationRefunded
	default:
		return
	}
	o.deadline = time.Time{}
	o.attempts = 0
}

// RetryCompensationLater records a failed void or refund; the sweeper tries
// again at next.
func (o *Order) RetryCompensationLater(next time.Time) {
	if !o.compensation.Due() {
		return
	}
	o.attempts++
	o.deadline = next.UTC()
}
