package sdk_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/sdk"
)

func names() *sdk.Upcaster {
	up := sdk.NewUpcaster("names")
	sdk.UpcastStep(up, 1, func(old *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		return wrapperspb.String(old.GetValue() + "|"), nil
	})
	sdk.UpcastStep(up, 2, func(old *wrapperspb.StringValue) (*wrapperspb.BytesValue, error) {
		return wrapperspb.Bytes([]byte(old.GetValue() + "none@example.com")), nil
	})
	return up
}

func TestUpcasterStepsEachEventOneVersionUp(t *testing.T) {
	up := names()
	a0, _ := anypb.New(wrapperspb.String("ann"))
	a1, _ := anypb.New(wrapperspb.String("bob|"))
	resp, err := up.Upcast(context.Background(), &eventedpb.UpcastRequest{Events: []*eventedpb.UpcastEvent{
		{Event: a0}, {Event: a1, SchemaVersion: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	var s wrapperspb.StringValue
	var b wrapperspb.BytesValue
	if e := resp.GetEvents()[0]; e.GetSchemaVersion() != 2 || e.GetEvent().UnmarshalTo(&s) != nil || s.GetValue() != "ann|" {
		t.Errorf("v1 event became %v", e)
	}
	if e := resp.GetEvents()[1]; e.GetSchemaVersion() != 3 || e.GetEvent().UnmarshalTo(&b) != nil || string(b.GetValue()) != "bob|none@example.com" {
		t.Errorf("v2 event became %v", e)
	}
	_, err = up.Upcast(context.Background(), &eventedpb.UpcastRequest{Events: []*eventedpb.UpcastEvent{{Event: a0, SchemaVersion: 3}}})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "no step for type.googleapis.com/google.protobuf.StringValue v3") {
		t.Errorf("an event without a step: %v", err)
	}
	steps := up.Steps()
	if len(steps) != 2 || steps[0].FromVersion != 1 || steps[0].To != "" || steps[1].To != "type.googleapis.com/google.protobuf.BytesValue" {
		t.Errorf("Steps() = %+v", steps)
	}
}

func TestUpcasterTwoStepsForOneVersionRefused(t *testing.T) {
	up := names()
	sdk.UpcastStep(up, 1, func(old *wrapperspb.StringValue) (*wrapperspb.StringValue, error) { return old, nil })
	err := sdk.Register(nil, up)
	if err == nil || !strings.Contains(err.Error(), "two steps for type.googleapis.com/google.protobuf.StringValue v1") {
		t.Errorf("Register = %v", err)
	}
}
