Feature: Distribution to projectors and sagas
  As a team that builds read models and processes on top of its events
  I want evented to hand every committed event to my projectors and sagas
  So that read models are complete and processes react, even when one of them was down

  The projectors and sagas are stub gRPC services that evented calls. A
  projector's projection is its read model of the aggregate: one line
  "<sequence> <event type>: <payload>" per event it has accepted. A saga
  answers the events it reacts to with commands for other aggregates.
  "Eventually" waits at most 10 seconds.

  Background:
    Given an empty event store
    And a stub business logic service for domain "transaction"
    And the business logic service also decides domain "customer"
    And the business logic answers "CreateTransaction" with a "TransactionCreated" event
    And the business logic answers "AddItem" with an "ItemAdded" event
    And the business logic answers "CompleteTransaction" with a "TransactionCompleted" event
    And the business logic answers "AddLoyaltyPoints" with a "LoyaltyPointsAdded" event
    And evented retries a failed delivery after 5ms, doubling up to 20ms, at most 200 times

  Scenario: A synchronous projector's projection is in the reply to the command
    Given a synchronous projector "running-total" for domain "transaction"
    And no prior events for aggregate "txn-1" in domain "transaction"
    And a "CreateTransaction" command was handled for aggregate "txn-1"
    When I send an "AddItem" command for aggregate "txn-1"
    Then the reply carries an "ItemAdded" event at sequence 1
    And the reply carries the projection of "running-total" for aggregate "txn-1" at sequence 1, reading:
      """
      0 TransactionCreated: CreateTransaction
      1 ItemAdded: AddItem
      """
    And once "running-total" has caught up, projector "running-total" has received the events of aggregate "txn-1" with sequences 0, 1, each once and in order

  Scenario: A synchronous saga's command is carried out before the reply
    Given a synchronous saga "loyalty" for domain "transaction"
    And saga "loyalty" answers a "TransactionCompleted" event with an "AddLoyaltyPoints" command for aggregate "cust-1" in domain "customer"
    And no prior events for aggregate "txn-2" in domain "transaction"
    When I send a "CompleteTransaction" command for aggregate "txn-2"
    Then the reply lists the dispatched "AddLoyaltyPoints" command for aggregate "cust-1"
    And the reply carries the book of aggregate "txn-2" with a "TransactionCompleted" event at sequence 0
    And the reply carries the book of aggregate "cust-1" with a "LoyaltyPointsAdded" event at sequence 0
    And the events of aggregate "cust-1" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |
    And once "loyalty" has caught up, saga "loyalty" has received the events of aggregate "txn-2" with sequence 0, each once and in order
    And the events of aggregate "cust-1" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |

  Scenario: An asynchronous saga's command is carried out after the reply
    Given an asynchronous saga "loyalty" for domain "transaction"
    And saga "loyalty" answers a "TransactionCompleted" event with an "AddLoyaltyPoints" command for aggregate "cust-3" in domain "customer"
    And no prior events for aggregate "txn-3" in domain "transaction"
    When I send a "CompleteTransaction" command for aggregate "txn-3"
    Then the reply carries a "TransactionCompleted" event at sequence 0
    And the reply lists no dispatched commands
    And eventually the events of aggregate "cust-3" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |
    And once "loyalty" has caught up, saga "loyalty" has received the events of aggregate "txn-3" with sequence 0, each once and in order
    And the events of aggregate "cust-3" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |

  Scenario: An asynchronous projector that was unavailable for a while gets every event once, in order
    Given an asynchronous projector "audit" for domain "transaction"
    And projector "audit" answers every delivery with UNAVAILABLE
    When aggregates "txn-4a", "txn-4b", "txn-4c", "txn-4d" in domain "transaction" each get 6 "AddItem" commands at the same time
    Then every command succeeded
    And eventually projector "audit" has refused 5 deliveries
    And projector "audit" has received no events
    When projector "audit" recovers
    Then eventually projector "audit" has received the events of aggregates "txn-4a", "txn-4b", "txn-4c", "txn-4d" with sequences 0 to 5, each once and in order
    And once "audit" has caught up, projector "audit" has received the events of aggregates "txn-4a", "txn-4b", "txn-4c", "txn-4d" with sequences 0 to 5, each once and in order

  Scenario: An asynchronous projector that is not running yet gets every event once it starts
    Given an asynchronous projector "audit" for domain "transaction" that is not running yet
    When aggregates "txn-5a", "txn-5b", "txn-5c", "txn-5d" in domain "transaction" each get 5 "AddItem" commands at the same time
    Then every command succeeded
    When projector "audit" starts
    Then eventually projector "audit" has received the events of aggregates "txn-5a", "txn-5b", "txn-5c", "txn-5d" with sequences 0 to 4, each once and in order
    And once "audit" has caught up, projector "audit" has received the events of aggregates "txn-5a", "txn-5b", "txn-5c", "txn-5d" with sequences 0 to 4, each once and in order

  Scenario: A poison event is parked after its attempts, with the later events of its aggregate, while other aggregates keep flowing
    Given evented retries a failed delivery after 5ms, doubling up to 20ms, at most 3 times
    And an asynchronous projector "audit" for domain "transaction"
    And projector "audit" cannot handle "PriceCorrupted" events
    And the business logic answers "CorruptPrice" with a "PriceCorrupted" event
    And no prior events for aggregate "txn-ok" in domain "transaction"
    And no prior events for aggregate "txn-bad" in domain "transaction"
    And a "CreateTransaction" command was handled for aggregate "txn-bad"
    And eventually projector "audit" has received the events of aggregate "txn-bad" with sequence 0, each once and in order
    When these commands are sent, one after the other:
      | aggregate | command           |
      | txn-bad   | CorruptPrice      |
      | txn-ok    | CreateTransaction |
      | txn-bad   | AddItem           |
      | txn-ok    | AddItem           |
      | txn-ok    | AddItem           |
    Then every command succeeded
    And eventually projector "audit" has received the events of aggregate "txn-ok" with sequences 0, 1, 2, each once and in order
    And eventually the events of aggregate "txn-bad" with sequences 1, 2 are parked for "audit"
    And the parked event at sequence 1 of aggregate "txn-bad" was tried 3 times and failed with "cannot handle a PriceCorrupted event"
    When these commands are sent, one after the other:
      | aggregate | command |
      | txn-bad   | AddItem |
      | txn-ok    | AddItem |
    Then eventually projector "audit" has received the events of aggregate "txn-ok" with sequences 0, 1, 2, 3, each once and in order
    And eventually the events of aggregate "txn-bad" with sequences 1, 2, 3 are parked for "audit"
    And once "audit" has caught up, projector "audit" has received the events of aggregate "txn-bad" with sequence 0, each once and in order
    And projector "audit" was offered the event at sequence 1 of aggregate "txn-bad" 3 times
    And projector "audit" was never offered the event at sequence 3 of aggregate "txn-bad"

  Scenario: Parked events are replayed in order once the projector is fixed, and the aggregate flows again
    Given evented retries a failed delivery after 5ms, doubling up to 20ms, at most 3 times
    And an asynchronous projector "audit" for domain "transaction"
    And projector "audit" cannot handle "PriceCorrupted" events
    And the business logic answers "CorruptPrice" with a "PriceCorrupted" event
    And no prior events for aggregate "txn-bad" in domain "transaction"
    And a "CreateTransaction" command was handled for aggregate "txn-bad"
    And eventually projector "audit" has received the events of aggregate "txn-bad" with sequence 0, each once and in order
    And a "CorruptPrice" command was handled for aggregate "txn-bad"
    And an "AddItem" command was handled for aggregate "txn-bad"
    And eventually the events of aggregate "txn-bad" with sequences 1, 2 are parked for "audit"
    And projector "audit" can handle "PriceCorrupted" events again
    When I replay the parked events of "audit"
    Then the replay delivered 2 events and none failed
    And projector "audit" has received the events of aggregate "txn-bad" with sequences 0, 1, 2, each once and in order
    And no events are parked for "audit"
    When I send an "AddItem" command for aggregate "txn-bad"
    Then eventually projector "audit" has received the events of aggregate "txn-bad" with sequences 0, 1, 2, 3, each once and in order

  Scenario Outline: A projector that needs the whole aggregate gets it with every delivery (<mode>)
    The receipt needs the items of the transaction, which are in its first
    event, when the transaction completes.
    Given a <mode> projector "receipt" for domain "transaction" that needs the whole aggregate
    And no prior events for aggregate "txn-6" in domain "transaction"
    And a "CreateTransaction" command with "customer cust-6; items: 2 coffee, 1 bagel" was handled for aggregate "txn-6"
    When I send a "CompleteTransaction" command for aggregate "txn-6"
    Then eventually projector "receipt" was last given aggregate "txn-6" whole:
      | sequence | event_type           | payload                                   |
      | 0        | TransactionCreated   | customer cust-6; items: 2 coffee, 1 bagel |
      | 1        | TransactionCompleted | CompleteTransaction                       |

    Examples:
      | mode         |
      | synchronous  |
      | asynchronous |

  Scenario: A synchronous projector that needs the whole aggregate answers with it in the reply
    Given a synchronous projector "receipt" for domain "transaction" that needs the whole aggregate
    And no prior events for aggregate "txn-6" in domain "transaction"
    And a "CreateTransaction" command with "customer cust-6; items: 2 coffee, 1 bagel" was handled for aggregate "txn-6"
    When I send a "CompleteTransaction" command for aggregate "txn-6"
    Then the reply carries the projection of "receipt" for aggregate "txn-6" at sequence 1, reading:
      """
      0 TransactionCreated: customer cust-6; items: 2 coffee, 1 bagel
      1 TransactionCompleted: CompleteTransaction
      """

  Scenario: A synchronous projector that fails does not fail the command, and gets the events once it recovers
    Given a synchronous projector "running-total" for domain "transaction"
    And projector "running-total" answers every delivery with UNAVAILABLE
    And no prior events for aggregate "txn-7" in domain "transaction"
    When I send a "CreateTransaction" command for aggregate "txn-7"
    Then the reply carries a "TransactionCreated" event at sequence 0
    And the reply carries no projections
    And the reply reports that the delivery to "running-total" failed
    And the events of aggregate "txn-7" are:
      | sequence | event_type         |
      | 0        | TransactionCreated |
    When projector "running-total" recovers
    Then eventually projector "running-total" has received the events of aggregate "txn-7" with sequence 0, each once and in order
    And once "running-total" has caught up, projector "running-total" has received the events of aggregate "txn-7" with sequence 0, each once and in order

  Scenario Outline: A projector written for evented-rs, registered only as "evented.Projector", still receives events (<mode>)
    Given a <mode> projector "legacy-log" for domain "transaction" that serves only the legacy service name
    And no prior events for aggregate "txn-8" in domain "transaction"
    And a "CreateTransaction" command was handled for aggregate "txn-8"
    When I send an "AddItem" command for aggregate "txn-8"
    Then eventually projector "legacy-log" has received the events of aggregate "txn-8" with sequences 0, 1, each once and in order
    And evented called "legacy-log" under "evented.ProjectorCoordinator" at most once

    Examples:
      | mode         |
      | synchronous  |
      | asynchronous |

  Scenario: A synchronous projector written for evented-rs answers with its projection under the legacy name
    Given a synchronous projector "legacy-log" for domain "transaction" that serves only the legacy service name
    And no prior events for aggregate "txn-8" in domain "transaction"
    When I send a "CreateTransaction" command for aggregate "txn-8"
    Then the reply carries the projection of "legacy-log" for aggregate "txn-8" at sequence 0, reading:
      """
      0 TransactionCreated: CreateTransaction
      """

  Scenario: A saga written for evented-rs, registered only as "evented.Saga", still has its commands carried out
    Given a synchronous saga "loyalty" for domain "transaction" that serves only the legacy service name
    And saga "loyalty" answers a "TransactionCompleted" event with an "AddLoyaltyPoints" command for aggregate "cust-9" in domain "customer"
    And no prior events for aggregate "txn-9" in domain "transaction"
    When I send a "CompleteTransaction" command for aggregate "txn-9"
    Then the reply lists the dispatched "AddLoyaltyPoints" command for aggregate "cust-9"
    And the events of aggregate "cust-9" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |
    And evented called "loyalty" under "evented.SagaCoordinator" at most once

  Scenario: Recorded events reach the projectors too
    Given an asynchronous projector "audit" for domain "transaction"
    And no prior events for aggregate "txn-10" in domain "transaction"
    When I record events directly for aggregate "txn-10":
      | sequence | event_type         |
      | 0        | TransactionCreated |
      | 1        | ItemAdded          |
    Then eventually projector "audit" has received the events of aggregate "txn-10" with sequences 0, 1, each once and in order

  Scenario: A synchronous projector under concurrent commands answers every reply and gets every event once, in order
    Given a synchronous projector "running-total" for domain "transaction"
    And no prior events for aggregate "txn-11" in domain "transaction"
    When aggregates "txn-11a", "txn-11b", "txn-11c", "txn-11d" in domain "transaction" each get 6 "AddItem" commands at the same time
    Then every command succeeded
    And every reply carries the projection of "running-total" at the sequence of its event
    And once "running-total" has caught up, projector "running-total" has received the events of aggregates "txn-11a", "txn-11b", "txn-11c", "txn-11d" with sequences 0 to 5, each once and in order
    When 8 clients each send 4 "AddItem" commands for aggregate "txn-11" at the same time
    Then every command succeeded
    And every reply carries the projection of "running-total" at the sequence of its event
    And once "running-total" has caught up, projector "running-total" has received the events of aggregate "txn-11" with sequences 0 to 31, each once and in order

  Scenario: A synchronous saga that was down has its command carried out once it recovers
    Given a synchronous saga "loyalty" for domain "transaction"
    And saga "loyalty" answers a "TransactionCompleted" event with an "AddLoyaltyPoints" command for aggregate "cust-12" in domain "customer"
    And saga "loyalty" answers every delivery with UNAVAILABLE
    And no prior events for aggregate "txn-12" in domain "transaction"
    When I send a "CompleteTransaction" command for aggregate "txn-12"
    Then the reply carries a "TransactionCompleted" event at sequence 0
    And the reply lists no dispatched commands
    And the reply reports that the delivery to "loyalty" failed
    And nothing is stored for aggregate "cust-12"
    When saga "loyalty" recovers
    Then eventually the events of aggregate "cust-12" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |
    And once "loyalty" has caught up, saga "loyalty" has received the events of aggregate "txn-12" with sequence 0, each once and in order
    And the events of aggregate "cust-12" are:
      | sequence | event_type         |
      | 0        | LoyaltyPointsAdded |

  Scenario: After a restart, a projector is not sent again what it already received
    Given an asynchronous projector "audit" for domain "transaction"
    And no prior events for aggregate "txn-13" in domain "transaction"
    And a "CreateTransaction" command was handled for aggregate "txn-13"
    And an "AddItem" command was handled for aggregate "txn-13"
    And once "audit" has caught up, projector "audit" has received the events of aggregate "txn-13" with sequences 0, 1, each once and in order
    When evented restarts
    And I send an "AddItem" command for aggregate "txn-13"
    Then eventually projector "audit" has received the events of aggregate "txn-13" with sequences 0, 1, 2, each once and in order
    And once "audit" has caught up, projector "audit" has received the events of aggregate "txn-13" with sequences 0, 1, 2, each once and in order

  Scenario: Events committed while a projector was down reach it after evented restarts
    Given an asynchronous projector "audit" for domain "transaction"
    And projector "audit" answers every delivery with UNAVAILABLE
    When aggregates "txn-14a", "txn-14b" in domain "transaction" each get 5 "AddItem" commands at the same time
    Then every command succeeded
    And eventually projector "audit" has refused 2 deliveries
    When evented restarts
    And projector "audit" recovers
    Then eventually projector "audit" has received the events of aggregates "txn-14a", "txn-14b" with sequences 0 to 4, each once and in order

  Scenario: Parked events stay parked across a restart, hold back their aggregate, and can be replayed
    Given evented retries a failed delivery after 5ms, doubling up to 20ms, at most 3 times
    And an asynchronous projector "audit" for domain "transaction"
    And projector "audit" cannot handle "PriceCorrupted" events
    And the business logic answers "CorruptPrice" with a "PriceCorrupted" event
    And no prior events for aggregate "txn-bad" in domain "transaction"
    And a "CreateTransaction" command was handled for aggregate "txn-bad"
    And eventually projector "audit" has received the events of aggregate "txn-bad" with sequence 0, each once and in order
    And a "CorruptPrice" command was handled for aggregate "txn-bad"
    And eventually the events of aggregate "txn-bad" with sequence 1 are parked for "audit"
    When evented restarts
    And I send an "AddItem" command for aggregate "txn-bad"
    Then eventually the events of aggregate "txn-bad" with sequences 1, 2 are parked for "audit"
    And once "audit" has caught up, projector "audit" has received the events of aggregate "txn-bad" with sequence 0, each once and in order
    When projector "audit" can handle "PriceCorrupted" events again
    And I replay the parked events of "audit"
    Then the replay delivered 2 events and none failed
    And projector "audit" has received the events of aggregate "txn-bad" with sequences 0, 1, 2, each once and in order

  Scenario: A projector that is down for longer than its delivery attempts still gets every event once it is back
    A projector that answers UNAVAILABLE is down, not refusing the events:
    evented waits for it, with backoff, as long as it takes, and its failures
    do not count towards parking. Nothing committed may be lost because a
    projector was down (SPEC §3 Distribution).
    Given evented retries a failed delivery after 5ms, doubling up to 20ms, at most 3 times
    And an asynchronous projector "audit" for domain "transaction"
    And projector "audit" answers every delivery with UNAVAILABLE
    When aggregates "txn-15a", "txn-15b" in domain "transaction" each get 3 "AddItem" commands at the same time
    Then every command succeeded
    And eventually projector "audit" has refused 6 deliveries
    When projector "audit" recovers
    And these commands are sent, one after the other:
      | aggregate | command |
      | txn-15a   | AddItem |
      | txn-15b   | AddItem |
    Then eventually projector "audit" has received the events of aggregates "txn-15a", "txn-15b" with sequences 0 to 3, each once and in order
