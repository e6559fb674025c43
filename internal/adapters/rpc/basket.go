package rpc

import (
	"context"
	"strconv"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/protoconv"
	"github.com/bookworm-store/bookworm/internal/core/basket"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
)

// BasketHandler serves bookworm.basket.v1.BasketService over the basket use
// cases. No request names a user: the use cases take the caller from the
// context, where the authorization interceptor put it after checking the
// RPC's access rule, so a caller reaches their own basket only.
type BasketHandler struct {
	svc *basket.Service
}

var _ basketv1connect.BasketServiceHandler = (*BasketHandler)(nil)

// NewBasketHandler returns the Connect handler of the basket service.
func NewBasketHandler(svc *basket.Service) *BasketHandler { return &BasketHandler{svc: svc} }

// BasketService is the basket service for Options.Services.
func BasketService(svc *basket.Service) Service {
	return NewService[basketv1connect.BasketServiceHandler](basketv1connect.BasketServiceName,
		basketv1connect.NewBasketServiceHandler, NewBasketHandler(svc))
}

func basketToProto(p basket.Priced) *basketv1.Basket {
	out := &basketv1.Basket{
		Lines:     make([]*basketv1.BasketLine, len(p.Lines)),
		Total:     protoconv.Money(p.Total),
		ItemCount: int32(p.ItemCount),
		Etag:      strconv.FormatInt(p.Version, 10),
	}
	if !p.UpdatedAt.IsZero() {
		out.UpdateTime = timestamppb.New(p.UpdatedAt)
	}
	for i, l := range p.Lines {
		out.Lines[i] = &basketv1.BasketLine{
			BookId:    l.BookID,
			Title:     l.Title,
			Quantity:  int32(l.Quantity),
			UnitPrice: protoconv.Money(l.UnitPrice),
			LineTotal: protoconv.Money(l.LineTotal),
			AddTime:   timestamppb.New(l.AddedAt),
			Available: l.Available,
		}
	}
	return out
}

// GetBasket implements basketv1connect.BasketServiceHandler.
func (h *BasketHandler) GetBasket(ctx context.Context, _ *connect.Request[basketv1.GetBasketRequest]) (*connect.Response[basketv1.GetBasketResponse], error) {
	p, err := h.svc.GetBasket(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&basketv1.GetBasketResponse{Basket: basketToProto(p)}), nil
}

// AddItem implements basketv1connect.BasketServiceHandler.
func (h *BasketHandler) AddItem(ctx context.Context, req *connect.Request[basketv1.AddItemRequest]) (*connect.Response[basketv1.AddItemResponse], error) {
	p, err := h.svc.AddItem(ctx, req.Msg.GetBookId(), int(req.Msg.GetQuantity()), req.Msg.GetRequestId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&basketv1.AddItemResponse{Basket: basketToProto(p)}), nil
}

// UpdateItemQuantity implements basketv1connect.BasketServiceHandler.
func (h *BasketHandler) UpdateItemQuantity(ctx context.Context, req *connect.Request[basketv1.UpdateItemQuantityRequest]) (*connect.Response[basketv1.UpdateItemQuantityResponse], error) {
	p, err := h.svc.UpdateItemQuantity(ctx, req.Msg.GetBookId(), int(req.Msg.GetQuantity()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&basketv1.UpdateItemQuantityResponse{Basket: basketToProto(p)}), nil
}

// RemoveItem implements basketv1connect.BasketServiceHandler.
func (h *BasketHandler) RemoveItem(ctx context.Context, req *connect.Request[basketv1.RemoveItemRequest]) (*connect.Response[basketv1.RemoveItemResponse], error) {
	p, err := h.svc.RemoveItem(ctx, req.Msg.GetBookId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&basketv1.RemoveItemResponse{Basket: basketToProto(p)}), nil
}

// ClearBasket implements basketv1connect.BasketServiceHandler.
func (h *BasketHandler) ClearBasket(ctx context.Context, _ *connect.Request[basketv1.ClearBasketRequest]) (*connect.Response[basketv1.ClearBasketResponse], error) {
	p, err := h.svc.ClearBasket(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&basketv1.ClearBasketResponse{Basket: basketToProto(p)}), nil
}
