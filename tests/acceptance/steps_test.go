package acceptance

import (
	"github.com/cucumber/godog"
)

// register binds every step sentence to the world of one scenario. The
// sentences are grouped as a reader meets them: how evented is set up, what
// the business logic will do, what already happened, what the user does, and
// what comes out.
func (w *world) register(sc *godog.ScenarioContext) {
	// Setup (before evented starts; it starts on first use).
	sc.Given(`^an empty event store$`, w.emptyEventStore)
	sc.Given(`^a stub business logic service for domain "([^"]*)"$`, w.businessLogicFor)
	sc.Given(`^the business logic service also decides domain "([^"]*)"$`, w.businessLogicFor)
	sc.Given(`^no business logic service is configured$`, w.noBusinessLogic)
	sc.Given(`^evented tries a command at most (\d+) times$`, w.maxAttempts)

	// What the business logic will do.
	sc.Given(`^the business logic answers "([^"]*)" with an? "([^"]*)" event$`, w.answersWithEvent)
	sc.Given(`^the business logic answers "([^"]*)" with an? "([^"]*)" event and a snapshot$`, w.answersWithEventAndSnapshot)
	sc.Given(`^the business logic answers "([^"]*)" with no events$`, w.answersWithNothing)
	sc.Given(`^the business logic rejects "([^"]*)" with "([^"]*)"$`, w.rejects)
	sc.Given(`^the business logic stamps sequence 0 on every event it returns$`, w.stampsZero)
	sc.Given(`^the business logic answers "([^"]*)" with an? "([^"]*)" event and schedules "([^"]*)" for the same aggregate in (\d+) ms$`, w.answersAndSchedules)
	sc.Given(`^the business logic answers "([^"]*)" with an? "([^"]*)" event and cancels what it scheduled$`, w.answersAndCancels)
	sc.When(`^(\d+) ms pass$`, w.msPass)
	sc.Then(`^within (\d+) seconds the events of aggregate "([^"]*)" are:$`, w.eventsBecome)
	sc.Given(`^another writer records an? "([^"]*)" event for the aggregate while the business logic decides, (once|every time)$`, w.anotherWriter)

	// What already happened.
	sc.Given(`^no prior events for aggregate "([^"]*)" in domain "([^"]*)"$`, w.noPriorEvents)
	sc.Given(`^prior events for aggregate "([^"]*)" in domain "([^"]*)":$`, w.priorEvents)
	sc.Given(`^an? "([^"]*)" command was handled for aggregate "([^"]*)"$`, w.commandWasHandled)

	// What the user does.
	sc.When(`^I send an? "([^"]*)" command for aggregate "([^"]*)"$`, w.sendCommand)
	sc.When(`^I send an? "([^"]*)" command for aggregate "([^"]*)" in domain "([^"]*)"$`, w.sendCommandInDomain)
	sc.When(`^I send an? "([^"]*)" command to domain "([^"]*)" for an aggregate whose root is (\d+) bytes long$`, w.sendCommandWithRootLength)
	sc.When(`^I record events directly for aggregate "([^"]*)":$`, w.recordEvents)
	sc.When(`^I record an? "([^"]*)" event at sequence (\d+) for aggregate "([^"]*)"$`, w.recordEventAt)
	sc.When(`^(\d+) clients each send (\d+) "([^"]*)" commands for aggregate "([^"]*)" at the same time$`, w.concurrentClients)
	sc.When(`^I query the events of aggregate "([^"]*)" with lower bound (\d+) and upper bound (\d+)$`, w.queryBounds)
	sc.When(`^I query all events of aggregate "([^"]*)"$`, w.queryAll)
	sc.When(`^I query all events of aggregate "([^"]*)" in domain "([^"]*)"$`, w.queryAllInDomain)

	// What the business logic saw.
	sc.Then(`^the business logic receives the command with empty event history$`, w.receivedEmptyHistory)
	sc.Then(`^the business logic receives the command with (\d+) prior events?$`, w.receivedPriorEvents)
	sc.Then(`^the business logic receives the snapshot at sequence (\d+) and only the events with sequences? (.+)$`, w.receivedSnapshotAndEvents)
	sc.Then(`^the business logic was asked (\d+) times?$`, w.askedTimes)
	sc.Then(`^the business logic was never asked$`, w.neverAsked)

	// What evented answered and stored.
	sc.Then(`^the reply carries an? "([^"]*)" event at sequence (\d+)$`, w.replyCarriesEvent)
	sc.Then(`^the reply carries no events$`, w.replyCarriesNothing)
	sc.Then(`^the reply carries the recorded events with sequences? (.+)$`, w.replyCarriesSequences)
	sc.Then(`^(\d+) events? (?:is|are) persisted for aggregate "([^"]*)"$`, w.eventsPersisted)
	sc.Then(`^(\d+) events total exist for aggregate "([^"]*)"$`, w.eventsPersisted)
	sc.Then(`^nothing is stored for aggregate "([^"]*)"$`, w.nothingStored)
	sc.Then(`^the events of aggregate "([^"]*)" are:$`, w.eventsAre)
	sc.Step(`^the snapshot of aggregate "([^"]*)" is at sequence (\d+)$`, w.snapshotAt)
	sc.Then(`^the (?:command|recording|query) fails with ([A-Z_]+)$`, w.failsWith)
	sc.Then(`^the message is "([^"]*)"$`, w.messageIs)
	sc.Then(`^the message contains "([^"]*)"$`, w.messageContains)
	sc.Then(`^every command succeeded$`, w.everyCommandSucceeded)
	sc.Then(`^the replies carry the sequences 0 to (\d+), each exactly once$`, w.repliesCarrySequences)

	// What a query returned.
	sc.Then(`^I get the events with sequences? (.+)$`, w.gotSequences)
	sc.Then(`^I get no events$`, w.gotNoEvents)
	sc.Then(`^I get the snapshot at sequence (\d+)$`, w.gotSnapshot)
	sc.Then(`^I get no snapshot$`, w.gotNoSnapshot)
	sc.Then(`^I get one empty book for aggregate "([^"]*)" in domain "([^"]*)"$`, w.gotOneEmptyBook)

	// Projectors and sagas (distribution_steps_test.go).
	w.registerDistribution(sc)
	w.registerLifecycle(sc)
	w.registerUpcasting(sc)
	w.registerBus(sc)
	w.registerSnapshots(sc)
}
