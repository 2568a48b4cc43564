package grpcapi

import (
	"context"
	"fmt"
	"testing"
	"time"
)

type clientKey struct{}

// The rates of clients that went quiet are forgotten once there are many,
// so that clients with ever new addresses do not grow the server.
func TestRatesForgetIdleClients(t *testing.T) {
	r := newRates(1000, 1, func(ctx context.Context) string { return ctx.Value(clientKey{}).(string) })
	as := func(name string) context.Context { return context.WithValue(context.Background(), clientKey{}, name) }
	for i := range maxIdleClients {
		if err := r.allow(as(fmt.Sprint(i)), "/evented.EventQuery/GetEvents"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond) // every bucket refills in 1ms
	if err := r.allow(as("new"), "/evented.EventQuery/GetEvents"); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	n := len(r.m)
	r.mu.Unlock()
	if n != 1 {
		t.Errorf("%d clients remembered; want the idle %d forgotten", n, maxIdleClients)
	}
	if err := r.allow(as("new"), "/grpc.health.v1.Health/Check"); err != nil {
		t.Errorf("a health check was limited: %v", err)
	}
}
