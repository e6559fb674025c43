package rpc

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/protoconv"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/assistant/v1/assistantv1connect"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1/orderingv1connect"
)

// OrderingHandler serves bookworm.ordering.v1.OrderingService over the
// ordering use cases. The caller comes from the context; ownership (another
// user's order is NotFound) is the core's to check.
type OrderingHandler struct {
	svc       *ordering.Service
	keepAlive time.Duration
}

var _ orderingv1connect.OrderingServiceHandler = (*OrderingHandler)(nil)

// DefaultKeepAlive is how often WatchOrder sends a keep-alive when nothing
// changed: often enough for proxies that close idle streams after a minute.
const DefaultKeepAlive = 15 * time.Second

// NewOrderingHandler returns the Connect handler of the ordering service;
// keepAlive <= 0 means DefaultKeepAlive.
func NewOrderingHandler(svc *ordering.Service, keepAlive time.Duration) *OrderingHandler {
	if keepAlive <= 0 {
		keepAlive = DefaultKeepAlive
	}
	return &OrderingHandler{svc: svc, keepAlive: keepAlive}
}

// OrderingService is the ordering service for Options.Services.
func OrderingService(svc *ordering.Service, keepAlive time.Duration) Service {
	return NewService[orderingv1connect.OrderingServiceHandler](orderingv1connect.OrderingServiceName,
		orderingv1connect.NewOrderingServiceHandler, NewOrderingHandler(svc, keepAlive))
}

// LongStreams lifts the server's read and write timeouts for the requests
// of server streams that last longer than a request may: WatchOrder ends
// when the client goes or the order is final, and its keep-alives show it
// is alive; the assistant's Chat ends with its turn, which the assistant's
// turn deadline bounds. Every other request keeps the timeouts.
func LongStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+orderingv1connect.OrderingServiceName+"/WatchOrder") ||
			strings.HasSuffix(r.URL.Path, assistantv1connect.AssistantServiceChatProcedure) {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
	})
}

func orderToProto(v ordering.View) *orderingv1.Order {
	out := &orderingv1.Order{
		Id:         v.ID,
		UserId:     v.UserID,
		Status:     orderingv1.OrderStatus(v.Status),
		Total:      protoconv.Money(v.Total),
		CreateTime: timestamppb.New(v.CreatedAt),
		UpdateTime: timestamppb.New(v.UpdatedAt),
		Version:    v.Version,
	}
	for _, l := range v.Lines {
		out.Lines = append(out.Lines, &orderingv1.OrderLine{BookId: l.BookID, Title: l.Title, Quantity: int32(l.Quantity),
			UnitPrice: protoconv.Money(l.UnitPrice), LineTotal: protoconv.Money(l.LineTotal)})
	}
	if !v.Address.IsZero() {
		f := v.Address.Fields()
		out.ShippingAddress = &orderingv1.Address{Name: f.Name, Lines: f.Lines, City: f.City, Region: f.Region,
			PostalCode: f.PostalCode, CountryCode: f.Country}
	}
	if v.Failure.Reason != ordering.ReasonNone {
		out.Failure = &orderingv1.OrderFailure{Reason: orderingv1.FailureReason(v.Failure.Reason), Detail: v.Failure.Detail,
			BookIds: v.Failure.BookIDs}
	}
	if v.Action.ClientSecret != "" {
		out.PaymentAction = &orderingv1.PaymentAction{ClientSecret: v.Action.ClientSecret, ExpireTime: timestamppb.New(v.Action.ExpiresAt)}
	}
	return out
}

// PlaceOrder implements orderingv1connect.OrderingServiceHandler.
func (h *OrderingHandler) PlaceOrder(ctx context.Context, req *connect.Request[orderingv1.PlaceOrderRequest]) (*connect.Response[orderingv1.PlaceOrderResponse], error) {
	a := req.Msg.GetShippingAddress()
	v, err := h.svc.PlaceOrder(ctx, ordering.PlaceOrderInput{
		RequestID: req.Msg.GetRequestId(),
		Address: ordering.AddressFields{Name: a.GetName(), Lines: a.GetLines(), City: a.GetCity(), Region: a.GetRegion(),
			PostalCode: a.GetPostalCode(), Country: a.GetCountryCode()},
		PaymentToken: req.Msg.GetPaymentMethodToken(),
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderingv1.PlaceOrderResponse{Order: orderToProto(v)}), nil
}

// GetOrder implements orderingv1connect.OrderingServiceHandler.
func (h *OrderingHandler) GetOrder(ctx context.Context, req *connect.Request[orderingv1.GetOrderRequest]) (*connect.Response[orderingv1.GetOrderResponse], error) {
	v, err := h.svc.GetOrder(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderingv1.GetOrderResponse{Order: orderToProto(v)}), nil
}

// ListOrders implements orderingv1connect.OrderingServiceHandler.
func (h *OrderingHandler) ListOrders(ctx context.Context, req *connect.Request[orderingv1.ListOrdersRequest]) (*connect.Response[orderingv1.ListOrdersResponse], error) {
	in := ordering.ListOrdersInput{UserID: req.Msg.GetUserId(), PageSize: int(req.Msg.GetPageSize()), PageToken: req.Msg.GetPageToken()}
	for _, s := range req.Msg.GetStatuses() {
		in.Statuses = append(in.Statuses, ordering.Status(s))
	}
	var v failure.Violations
	if t := req.Msg.GetCreateTimeStart(); t != nil {
		if t.CheckValid() != nil {
			v.Add("create_time_start", "must be a valid time between the years 1 and 9999")
		}
		in.CreatedFrom = t.AsTime()
	}
	if t := req.Msg.GetCreateTimeEnd(); t != nil {
		if t.CheckValid() != nil {
			v.Add("create_time_end", "must be a valid time between the years 1 and 9999")
		}
		in.CreatedBefore = t.AsTime()
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	page, err := h.svc.ListOrders(ctx, in)
	if err != nil {
		return nil, err
	}
	out := &orderingv1.ListOrdersResponse{NextPageToken: page.NextPageToken}
	for _, v := range page.Orders {
		out.Orders = append(out.Orders, orderToProto(v))
	}
	return connect.NewResponse(out), nil
}

// CancelOrder implements orderingv1connect.OrderingServiceHandler.
func (h *OrderingHandler) CancelOrder(ctx context.Context, req *connect.Request[orderingv1.CancelOrderRequest]) (*connect.Response[orderingv1.CancelOrderResponse], error) {
	v, err := h.svc.CancelOrder(ctx, req.Msg.GetId(), req.Msg.GetReason())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderingv1.CancelOrderResponse{Order: orderToProto(v)}), nil
}

// ShipOrder implements orderingv1connect.OrderingServiceHandler.
func (h *OrderingHandler) ShipOrder(ctx context.Context, req *connect.Request[orderingv1.ShipOrderRequest]) (*connect.Response[orderingv1.ShipOrderResponse], error) {
	v, err := h.svc.ShipOrder(ctx, req.Msg.GetId(), req.Msg.GetTrackingNumber())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderingv1.ShipOrderResponse{Order: orderToProto(v)}), nil
}

// CompleteOrder implements orderingv1connect.OrderingServiceHandler.
func (h *OrderingHandler) CompleteOrder(ctx context.Context, req *connect.Request[orderingv1.CompleteOrderRequest]) (*connect.Response[orderingv1.CompleteOrderResponse], error) {
	v, err := h.svc.CompleteOrder(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderingv1.CompleteOrderResponse{Order: orderToProto(v)}), nil
}

// GetOrderHistory implements orderingv1connect.OrderingServiceHandler.
func (h *OrderingHandler) GetOrderHistory(ctx context.Context, req *connect.Request[orderingv1.GetOrderHistoryRequest]) (*connect.Response[orderingv1.GetOrderHistoryResponse], error) {
	entries, err := h.svc.GetOrderHistory(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	out := &orderingv1.GetOrderHistoryResponse{}
	for _, e := range entries {
		out.Entries = append(out.Entries, &orderingv1.OrderHistoryEntry{
			FromStatus: orderingv1.OrderStatus(e.From), ToStatus: orderingv1.OrderStatus(e.To),
			ActorKind: orderingv1.ActorKind(e.Actor.Kind), ActorId: e.Actor.ID, Reason: e.Reason,
			OccurTime: timestamppb.New(e.At), Version: e.Version,
		})
	}
	return connect.NewResponse(out), nil
}

// WatchOrder implements orderingv1connect.OrderingServiceHandler: the order
// now, then after every change until it is final, with a keep-alive after
// every quiet interval; it ends without error when the client goes.
func (h *OrderingHandler) WatchOrder(ctx context.Context, req *connect.Request[orderingv1.WatchOrderRequest], stream *connect.ServerStream[orderingv1.WatchOrderResponse]) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	send := func(m *orderingv1.WatchOrderResponse) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(m)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(h.keepAlive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := send(&orderingv1.WatchOrderResponse{Event: &orderingv1.WatchOrderResponse_KeepAlive{
					KeepAlive: &orderingv1.KeepAlive{SendTime: timestamppb.New(now)}}}); err != nil {
					cancel() // the client is gone
					return
				}
			}
		}
	}()
	err := h.svc.WatchOrder(ctx, req.Msg.GetId(), func(v ordering.View) error {
		return send(&orderingv1.WatchOrderResponse{Event: &orderingv1.WatchOrderResponse_Order{Order: orderToProto(v)}})
	})
	cancel()
	wg.Wait()
	return err
}
