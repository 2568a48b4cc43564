package acceptance

import (
	"context"
	"time"

	"github.com/cucumber/godog"
)

func (w *world) answersAndSchedules(command, event, later string, ms int) error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	l.setAnswer(command, answer{events: []string{event}, schedule: later, delay: time.Duration(ms) * time.Millisecond})
	return nil
}

func (w *world) answersAndCancels(command, event string) error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	l.setAnswer(command, answer{events: []string{event}, cancel: true})
	return nil
}

func (w *world) msPass(ms int) error {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return nil
}

// eventsBecome checks the aggregate's events every 50 ms until they are
// the table's, for at most the given seconds.
func (w *world) eventsBecome(ctx context.Context, seconds int, name string, table *godog.Table) error {
	end := time.Now().Add(time.Duration(seconds) * time.Second)
	for {
		err := w.eventsAre(ctx, name, table)
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
