package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
)

func ExampleKey() {
	c := eventstore.Cover{Domain: "customer", Root: uuid.MustParse("0190f4b2-7c3e-7d4a-9b1c-2e3f4a5b6c7d")}
	fmt.Println(bus.Key(c))
	at := time.Date(2026, 11, 26, 10, 21, 42, 0, time.UTC)
	fmt.Println(bus.ID(eventstore.Book{Cover: c, Events: []eventstore.Event{{Sequence: 4}, {Sequence: 5, CreatedAt: at}}}))
	// Output:
	// customer.0190f4b27c3e7d4a9b1c2e3f4a5b6c7d
	// customer.0190f4b27c3e7d4a9b1c2e3f4a5b6c7d.4-5.1795688502000000000
}

func TestCheckDomain(t *testing.T) {
	for _, ok := range []string{"customer", "a.b", "order-line", "Ünïcode", "x_1"} {
		if err := bus.CheckDomain(ok); err != nil {
			t.Errorf("CheckDomain(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "a.", ".a", "a..b", "*", "a.*", ">", "a#", "a b", "a\tb", "a\x7f", "a\u2028"} {
		if err := bus.CheckDomain(bad); !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("CheckDomain(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "receipt-projector", "Saga_1"} {
		if err := bus.CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	long := make([]byte, 201)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a.b", "a b", "a*", "a>", "é", string(long)} {
		if err := bus.CheckName(bad); !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCheckBook(t *testing.T) {
	c := eventstore.Cover{Domain: "d", Root: uuid.New()}
	if err := bus.Check(eventstore.Book{Cover: c, Events: []eventstore.Event{{Sequence: 3}, {Sequence: 4}}}); err != nil {
		t.Errorf("consecutive: %v", err)
	}
	for name, b := range map[string]eventstore.Book{
		"empty":      {Cover: c},
		"gap":        {Cover: c, Events: []eventstore.Event{{Sequence: 3}, {Sequence: 5}}},
		"backwards":  {Cover: c, Events: []eventstore.Event{{Sequence: 3}, {Sequence: 2}}},
		"bad domain": {Cover: eventstore.Cover{Domain: "a b"}, Events: []eventstore.Event{{}}},
	} {
		if err := bus.Check(b); !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

type countAcks struct{ acks, nacks int }

func (c *countAcks) Ack(context.Context) error  { c.acks++; return nil }
func (c *countAcks) Nack(context.Context) error { c.nacks++; return nil }

func TestMessageSettlesOnce(t *testing.T) {
	var c countAcks
	m := bus.NewMessage(eventstore.Book{}, false, &c)
	if err := m.Nack(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := m.Ack(t.Context()); !errors.Is(err, bus.ErrSettled) {
		t.Fatalf("Ack after Nack: %v", err)
	}
	if c.acks != 0 || c.nacks != 1 {
		t.Fatalf("backend saw %d acks, %d nacks; want 0, 1", c.acks, c.nacks)
	}
}
