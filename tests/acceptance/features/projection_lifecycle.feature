@lifecycle
Feature: Projection lifecycle: rebuilds, new versions and reading one's own writes
  As a team that changes its read models over the years
  I want to rebuild a projection, run a new version beside the old one and
  wait for my own writes to reach a read model
  So that I never stop evented or today's readers to change how I read

  The projectors and sagas are stub gRPC services that evented calls; they
  remember, for every delivery, whether evented marked it as a replay
  (metadata evented-replay: true). "Eventually" waits at most 10 seconds.

  Background:
    Given an empty event store
    And a stub business logic service for domain "transaction"
    And the business logic service also decides domain "customer"
    And the business logic answers "AddItem" with an "ItemAdded" event
    And the business logic answers "CompleteTransaction" with a "TransactionCompleted" event
    And the business logic answers "AddLoyaltyPoints" with a "LoyaltyPointsAdded" event
    And evented retries a failed delivery after 5ms, doubling up to 20ms, at most 200 times

  Scenario: Rebuilding a projection delivers its events again, marked as a replay
    Given an asynchronous projector "audit" for domain "transaction"
    When aggregates "txn-r1", "txn-r2" in domain "transaction" each get 3 "AddItem" commands at the same time
    Then eventually projector "audit" has received the events of aggregates "txn-r1", "txn-r2" with sequences 0 to 2, each once and in order
    When an operator rebuilds projector "audit" from the beginning
    Then eventually projector "audit" has been given the events of aggregates "txn-r1", "txn-r2" with sequences 0 to 2 again, as a replay
    When I send an "AddItem" command for aggregate "txn-r1"
    Then eventually projector "audit" has been given the event at sequence 3 of aggregate "txn-r1" live, not as a replay

  Scenario: Re-running a saga does not send its commands again
    Given an asynchronous saga "loyalty" for domain "transaction"
    And saga "loyalty" answers a "TransactionCompleted" event with an "AddLoyaltyPoints" command for aggregate "cust-r" in domain "customer"
    When I send a "CompleteTransaction" command for aggregate "txn-r3" in domain "transaction"
    Then eventually the events of aggregate "cust-r" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |
    When an operator rebuilds saga "loyalty" from the beginning
    Then eventually saga "loyalty" has been given the events of aggregate "txn-r3" with sequence 0 again, as a replay
    And the events of aggregate "cust-r" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |

  Scenario: A client reads its own write from an asynchronous read model
    Given an asynchronous projector "audit" for domain "transaction"
    When I send an "AddItem" command for aggregate "txn-w1" in domain "transaction", waiting for projector "audit"
    Then the reply says projector "audit" had handled the command's events
    And projector "audit" has already received the event at sequence 0 of aggregate "txn-w1"

  Scenario: A wait for a read model that is down runs out, and the command still counts
    Given an asynchronous projector "audit" for domain "transaction"
    And projector "audit" answers every delivery with UNAVAILABLE
    When I send an "AddItem" command for aggregate "txn-w2" in domain "transaction", waiting at most 300ms for projector "audit"
    Then the reply says projector "audit" had not handled the command's events when the wait ran out
    And the events of aggregate "txn-w2" are:
      | sequence | event_type |
      | 0        | ItemAdded  |
    When projector "audit" recovers
    Then eventually projector "audit" has received the events of aggregate "txn-w2" with sequence 0, each once and in order

  Scenario: A new version of a projector catches up beside the old one, then takes over
    Given an asynchronous projector "audit" for domain "transaction"
    When aggregates "txn-b1", "txn-b2" in domain "transaction" each get 3 "AddItem" commands at the same time
    Then eventually projector "audit" has received the events of aggregates "txn-b1", "txn-b2" with sequences 0 to 2, each once and in order
    When version 2 of projector "audit" is deployed beside version 1
    Then eventually version 2 of projector "audit" has been given the events of aggregates "txn-b1", "txn-b2" with sequences 0 to 2 again, as a replay
    When an operator cuts projector "audit" over to version 2
    And I send an "AddItem" command for aggregate "txn-b1"
    Then eventually version 2 of projector "audit" has been given the event at sequence 3 of aggregate "txn-b1" live, not as a replay
    And version 1 of projector "audit" was never offered the event at sequence 3 of aggregate "txn-b1"
