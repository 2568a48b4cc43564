package acceptance

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/cucumber/godog"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/amqp"
	"github.com/evented/evented/internal/bus/nats"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/testenv"
)

// busWorld is what a scenario knows of the bus: its type, the broker's
// address and restart command (from the environment, as the bus suites
// take them), and a consumer reading it.
type busWorld struct {
	busType       string
	busURL        string
	brokerControl string // a command to which stop or start is appended
	busReader     bus.Subscription
	busClient     bus.Subscriber // the reader's own client (amqp, nats)
	busSeen       map[eventstore.Cover]uint32
	busName       string // the reader's durable subscription
}

// brokers are the environment variables of each broker's address and
// restart command, as .ci/services.sh prints them.
var brokers = map[string][2]string{
	"amqp": {"AMQP_TEST_URL", "AMQP_TEST_RESTART"},
	"nats": {"NATS_TEST_URL", "NATS_TEST_RESTART"},
}

// brokerNeeds are the brokers as the summary of skipped tests names them.
var brokerNeeds = map[string]testenv.Need{"amqp": testenv.RabbitMQ, "nats": testenv.NATS}

func (w *world) registerBus(sc *godog.ScenarioContext) {
	sc.Given(`^evented publishes committed events to the "(inprocess|amqp|nats)" bus$`, w.publishesTo)
	sc.Given(`^a consumer reads the bus$`, w.readsTheBus)
	sc.When(`^I send (\d+) "([^"]*)" commands for aggregate "([^"]*)"$`, w.sendCommands)
	sc.When(`^the broker (stops|starts again)$`, w.broker)
	sc.Then(`^the bus consumer receives the events of aggregate "([^"]*)" with sequences 0 to (\d+), in order$`, w.busReceives)
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if w.busReader != nil {
			w.busReader.Close()
		}
		if w.busClient != nil {
			// A subscription left on a shared broker keeps every book
			// (the NATS stream retains by interest): delete it.
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = w.busClient.Unsubscribe(uctx, w.busName)
			cancel()
			w.busClient.Close()
		}
		return ctx, nil
	})
}

// publishesTo configures the relay. A broker whose address is not in the
// environment skips the scenario, or fails it when CI=true.
func (w *world) publishesTo(typ string) error {
	if err := w.configure("the bus"); err != nil {
		return err
	}
	w.busType = typ
	if env, ok := brokers[typ]; ok {
		if w.busURL = os.Getenv(env[0]); w.busURL == "" {
			if os.Getenv("CI") == "true" {
				return fmt.Errorf("%s is not set and CI=true: start the broker (.ci/services.sh start)", env[0])
			}
			testenv.Note(brokerNeeds[typ])
			return godog.ErrSkip
		}
		w.brokerControl = os.Getenv(env[1])
	}
	w.cfg.Bus = config.Bus{Type: typ, URL: w.busURL}
	w.cfg.Delivery.BackoffMin, w.cfg.Delivery.BackoffMax = 10*time.Millisecond, 200*time.Millisecond
	w.cfg.Delivery.Timeout = 2 * time.Second
	return nil
}

// readsTheBus subscribes a consumer of every domain; it receives what is
// published from now on.
func (w *world) readsTheBus(ctx context.Context) error {
	if err := w.up(ctx); err != nil {
		return err
	}
	var sub bus.Subscriber
	switch w.busType {
	case "inprocess":
		sub = w.evented.bus.(bus.Subscriber)
	case "amqp":
		b, err := amqp.New(w.busURL, amqp.Options{})
		if err != nil {
			return err
		}
		sub, w.busClient = b, b
	case "nats":
		b, err := nats.New(w.busURL, nats.Options{})
		if err != nil {
			return err
		}
		sub, w.busClient = b, b
	}
	name := fmt.Sprintf("acceptance-%d", time.Now().UnixNano())
	r, err := sub.Subscribe(ctx, name, "")
	if err != nil {
		return fmt.Errorf("subscribe to the bus: %w", err)
	}
	w.busReader, w.busSeen, w.busName = r, map[eventstore.Cover]uint32{}, name
	return nil
}

func (w *world) sendCommands(ctx context.Context, n int, command, name string) error {
	for range n {
		if err := w.sendCommand(ctx, command, name); err != nil {
			return err
		}
		if err := w.succeeded(); err != nil {
			return err
		}
	}
	return nil
}

// broker stops or starts the broker. Without a restart command in the
// environment (it stops a broker other tests share, so CI runs these
// scenarios in a step of their own) the scenario is skipped.
func (w *world) broker(ctx context.Context, action string) error {
	if w.brokerControl == "" {
		testenv.Note(testenv.BrokerRestart)
		return godog.ErrSkip
	}
	verb := "stop"
	if action == "starts again" {
		verb = "start"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "sh", "-c", w.brokerControl+" "+verb).CombinedOutput(); err != nil {
		return fmt.Errorf("broker %s: %v\n%s", verb, err, out)
	}
	return nil
}

// busReceives reads the bus until the aggregate's events 0..last have all
// arrived, each first time in order (a redelivery may repeat one).
func (w *world) busReceives(ctx context.Context, name string, last uint32) error {
	pb, err := w.cover(name)
	if err != nil {
		return err
	}
	cover := eventstore.Cover{Domain: pb.GetDomain(), Root: aggregateRoot(pb.GetDomain(), name)}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for w.busSeen[cover] <= last {
		msg, err := w.busReader.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("after 60s the bus consumer has sequences 0 to %d of %q, want 0 to %d", int(w.busSeen[cover])-1, name, last)
			}
			continue // the broker is coming back
		}
		for _, e := range msg.Book.Events {
			switch want := w.busSeen[msg.Book.Cover]; {
			case e.Sequence < want: // at least once
			case e.Sequence == want:
				w.busSeen[msg.Book.Cover]++
			default:
				return fmt.Errorf("%s: the bus delivered sequence %d before %d (skipped or out of order)", name, e.Sequence, want)
			}
		}
		_ = msg.Ack(ctx)
	}
	return nil
}
