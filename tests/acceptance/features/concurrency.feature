Feature: Concurrent writers
  As a team running several writers against one event store
  I want evented to detect when an aggregate changed under a decision
  So that no decision is ever stored on top of a history it did not see

  Background:
    Given an empty event store
    And a stub business logic service for domain "orders"
    And the business logic answers "AddItem" with an "ItemAdded" event

  Scenario: A stale command is retried and then succeeds
    Given prior events for aggregate "order-7" in domain "orders":
      | sequence | event_type   |
      | 0        | OrderCreated |
    And another writer records a "PriceChanged" event for the aggregate while the business logic decides, once
    When I send an "AddItem" command for aggregate "order-7"
    Then the business logic was asked 2 times
    And the business logic receives the command with 2 prior events
    And the reply carries an "ItemAdded" event at sequence 2
    And the events of aggregate "order-7" are:
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | PriceChanged |
      | 2        | ItemAdded    |

  Scenario: A conflict that never resolves aborts the command
    Given evented tries a command at most 3 times
    And prior events for aggregate "order-8" in domain "orders":
      | sequence | event_type   |
      | 0        | OrderCreated |
    And another writer records a "PriceChanged" event for the aggregate while the business logic decides, every time
    When I send an "AddItem" command for aggregate "order-8"
    Then the command fails with ABORTED
    And the message contains "sequence conflict: expected 3, got 4"
    And the business logic was asked 3 times
    And the events of aggregate "order-8" are:
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | PriceChanged |
      | 2        | PriceChanged |
      | 3        | PriceChanged |

  Scenario: Recording at a stale sequence is refused
    Given prior events for aggregate "order-9" in domain "orders":
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | ItemAdded    |
    When I record an "ItemRemoved" event at sequence 1 for aggregate "order-9"
    Then the recording fails with ABORTED
    And the message contains "sequence conflict"
    And the message contains "expected 1, got 2"
    And the events of aggregate "order-9" are:
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | ItemAdded    |

  @concurrency
  Scenario: Many clients writing to one aggregate at once all succeed
    Given no prior events for aggregate "order-busy" in domain "orders"
    When 16 clients each send 10 "AddItem" commands for aggregate "order-busy" at the same time
    Then every command succeeded
    And the replies carry the sequences 0 to 159, each exactly once
    And 160 events total exist for aggregate "order-busy"
    And the business logic was asked 160 times
