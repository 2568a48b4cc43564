Feature: Command handling
  As an event-sourced application
  I want evented to hand my commands to my business logic with the aggregate's history
  So that the events it decides on are stored in order and can be read back

  Background:
    Given an empty event store
    And a stub business logic service for domain "orders"

  Scenario: Handle a command for a new aggregate
    Given no prior events for aggregate "order-123" in domain "orders"
    And the business logic answers "CreateOrder" with an "OrderCreated" event
    When I send a "CreateOrder" command for aggregate "order-123"
    Then the business logic receives the command with empty event history
    And the reply carries an "OrderCreated" event at sequence 0
    And 1 event is persisted for aggregate "order-123"

  Scenario: Handle a command with existing history
    Given prior events for aggregate "order-456" in domain "orders":
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | ItemAdded    |
    And the business logic answers "AddItem" with an "ItemAdded" event
    When I send an "AddItem" command for aggregate "order-456"
    Then the business logic receives the command with 2 prior events
    And 3 events total exist for aggregate "order-456"
    And the events of aggregate "order-456" are:
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | ItemAdded    |
      | 2        | ItemAdded    |

  Scenario: Handle a command from the latest snapshot
    The business logic returns a snapshot with the event at sequence 1, so
    the snapshot holds the state up to sequence 2 (its first event not folded in).
    Given prior events for aggregate "order-789" in domain "orders":
      | sequence | event_type   |
      | 0        | OrderCreated |
    And the business logic answers "AddItem" with an "ItemAdded" event and a snapshot
    And an "AddItem" command was handled for aggregate "order-789"
    And the snapshot of aggregate "order-789" is at sequence 2
    And prior events for aggregate "order-789" in domain "orders":
      | sequence | event_type |
      | 2        | ItemAdded  |
    And the business logic answers "AddItem" with an "ItemAdded" event
    When I send an "AddItem" command for aggregate "order-789"
    Then the business logic receives the snapshot at sequence 2 and only the events with sequence 2
    And the reply carries an "ItemAdded" event at sequence 3
    And 4 events total exist for aggregate "order-789"

  Scenario: Record events directly (saga use case)
    Given no prior events for aggregate "saga-001" in domain "sagas"
    When I record events directly for aggregate "saga-001":
      | sequence | event_type    | created_at           |
      | 0        | SagaStarted   | 2024-03-01T10:00:00Z |
      | 1        | StepCompleted |                      |
    Then the reply carries the recorded events with sequences 0, 1
    And 2 events are persisted for aggregate "saga-001"
    And the events of aggregate "saga-001" are:
      | sequence | event_type    | created_at           |
      | 0        | SagaStarted   | 2024-03-01T10:00:00Z |
      | 1        | StepCompleted |                      |
    And the business logic was never asked

  Scenario: Business logic that decides nothing stores nothing
    Given no prior events for aggregate "order-000" in domain "orders"
    And the business logic answers "CheckOrder" with no events
    When I send a "CheckOrder" command for aggregate "order-000"
    Then the reply carries no events
    And nothing is stored for aggregate "order-000"

  Scenario: Business logic that stamps its own sequence numbers is renumbered
    The evented-rs examples stamp 0 on every event; evented numbers events itself.
    Given prior events for aggregate "order-321" in domain "orders":
      | sequence | event_type   |
      | 0        | OrderCreated |
    And the business logic stamps sequence 0 on every event it returns
    And the business logic answers "AddItem" with an "ItemAdded" event
    When I send an "AddItem" command for aggregate "order-321"
    Then the reply carries an "ItemAdded" event at sequence 1
    And the events of aggregate "order-321" are:
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | ItemAdded    |
