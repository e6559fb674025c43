package ordering

import (
	"context"
	"errors"
	"sync"
	"time"
)

// The saga's reactions. Each is safe to run twice, concurrently too (a
// redelivered event, the sweeper of another replica): state changes go
// through the store's update closures, and the gateway calls are idempotent
// by keys derived from the order id, so however often they run the customer
// is charged at most once.
//
// Why stock cannot be rejected after a payment: the order is charged only in
// StockReserved, which it reaches only from the catalog's StockReserved; the
// catalog answers one order once (stock.Ledger.Reserve repeats its first
// answer), so no rejection can follow a reservation.

// OnStockReserved moves the order on and charges it (the reaction to the
// catalog's StockReserved).
func (s *Service) OnStockReserved(ctx context.Context, orderID string) error {
	now := s.now()
	o, err := s.store.Update(ctx, orderID, func(o *Order) ([]Event, error) {
		return o.ReserveStock(now, now.Add(s.policy.PaymentTimeout)), nil
	})
	if err != nil {
		return err
	}
	if o.Status() != StatusStockReserved {
		return nil
	}
	_, err = s.charge(ctx, o, false)
	return err
}

// OnStockRejected fails the order (the reaction to StockRejected).
func (s *Service) OnStockRejected(ctx context.Context, orderID string, reason Reason, bookIDs []string) error {
	now := s.now()
	_, err := s.store.Update(ctx, orderID, func(o *Order) ([]Event, error) {
		return o.RejectStock(reason, bookIDs, now), nil
	})
	return err
}

// OnPaymentUpdate applies what the gateway reported on its own (a webhook
// after the customer's 3-D Secure step), then settles any compensation the
// update made due.
func (s *Service) OnPaymentUpdate(ctx context.Context, orderID string, r ChargeResult) error {
	now := s.now()
	o, err := s.store.Update(ctx, orderID, func(o *Order) ([]Event, error) {
		return o.ApplyCharge(r, now.Add(s.policy.ActionTimeout), now)
	})
	if err != nil {
		return err
	}
	if o.Compensation().Due() {
		_, err = s.compensate(ctx, o)
	}
	return err
}

// charge asks the gateway for the order's payment and applies the answer.
// With expired set (an AwaitingPayment order past its deadline) an answer
// that still requires the customer, or none, fails the order.
func (s *Service) charge(ctx context.Context, o *Order, expired bool) (*Order, error) {
	callCtx, cancel := context.WithTimeout(ctx, s.policy.GatewayCallTimeout)
	res, gerr := s.gateway.Charge(callCtx, ChargeRequest{
		IdempotencyKey: ChargeKey(o.ID()), OrderID: o.ID(), Amount: o.Total(), PaymentToken: o.paymentToken,
	})
	cancel()
	if gerr != nil && ctx.Err() != nil {
		// Shutting down: the sweeper resumes the order.
		return o, ctx.Err()
	}
	now := s.now()
	o, err := s.store.Update(ctx, o.ID(), func(o *Order) ([]Event, error) {
		switch {
		case expired && o.Status() == StatusAwaitingPayment && (gerr != nil || res.Outcome == ChargeRequiresAction):
			return o.TimeOut(now), nil
		case gerr != nil && errors.Is(gerr, ErrGatewayPermanent):
			return o.ApplyCharge(ChargeResult{Outcome: ChargeFailed}, now, now)
		case gerr != nil:
			if o.Status() != StatusStockReserved {
				return nil, nil
			}
			if o.Attempts()+1 >= s.policy.PaymentAttempts {
				return o.TimeOut(now), nil
			}
			o.RetryPaymentLater(now.Add(backoff(s.policy.PaymentBackoff, o.Attempts())))
			return nil, nil
		}
		return o.ApplyCharge(res, now.Add(s.policy.ActionTimeout), now)
	})
	if err != nil {
		return nil, err
	}
	if o.Compensation().Due() {
		return s.compensate(ctx, o)
	}
	return o, nil
}

// compensate makes the void or refund the order owes and records the
// outcome. A gateway failure is recorded for the sweeper to retry and is no
// error of the caller's (a saga reaction that failed for it would only be
// redelivered); the error returned is the store's.
func (s *Service) compensate(ctx context.Context, o *Order) (*Order, error) {
	callCtx, cancel := context.WithTimeout(ctx, s.policy.GatewayCallTimeout)
	var gerr error
	switch o.Compensation() {
	case CompensationVoidDue:
		gerr = s.gateway.Void(callCtx, ChargeKey(o.ID()))
	case CompensationRefundDue:
		gerr = s.gateway.Refund(callCtx, RefundRequest{IdempotencyKey: RefundKey(o.ID()), ChargeKey: ChargeKey(o.ID()), PaymentID: o.paymentID, Amount: o.Total()})
	default:
		cancel()
		return o, nil
	}
	cancel()
	now := s.now()
	due := o.Compensation()
	o, err := s.store.Update(ctx, o.ID(), func(o *Order) ([]Event, error) {
		if o.Compensation() != due {
			return nil, nil
		}
		if gerr != nil {
			o.RetryCompensationLater(now.Add(backoff(s.policy.CompensationBackoff, o.Attempts())))
		} else {
			o.Compensated()
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// ResumeStuck is the sweeper: it takes up to limit orders whose deadline
// passed and moves each on: asks the catalog again or gives up on it, charges
// again or gives up on the payment, fails an expired 3-D Secure wait, retries
// an owed void or refund. Run it at start (a crash of every replica leaves
// sagas mid-way) and periodically. Up to Policy.SweepParallelism orders are
// resumed at once (each may wait for the gateway). It returns how many
// orders it looked at and the first error; one order's error does not stop
// the others.
func (s *Service) ResumeStuck(ctx context.Context, now time.Time, limit int) (int, error) {
	due, err := s.store.Due(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	var (
		mu     sync.Mutex
		first  error
		looked int
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, s.policy.SweepParallelism)
	for _, o := range due {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		mu.Lock()
		looked++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := s.resume(ctx, o, now); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return looked, ctx.Err()
	}
	return looked, first
}

func (s *Service) resume(ctx context.Context, o *Order, now time.Time) error {
	switch {
	case o.Compensation().Due():
		_, err := s.compensate(ctx, o)
		return err
	case o.Status() == StatusPending:
		_, err := s.store.Update(ctx, o.ID(), func(o *Order) ([]Event, error) {
			if o.Status() != StatusPending || o.Deadline().After(now) {
				return nil, nil
			}
			if o.Attempts()+1 >= s.policy.StockAttempts {
				return o.TimeOut(now), nil
			}
			return o.RetryStock(now.Add(s.policy.StockTimeout), now), nil
		})
		return err
	case o.Status() == StatusStockReserved:
		_, err := s.charge(ctx, o, false)
		return err
	case o.Status() == StatusAwaitingPayment:
		_, err := s.charge(ctx, o, true)
		return err
	}
	return nil
}
