@upcasting
Feature: Old events are read in their newest shape
  As a team whose event types have changed shape over the years
  I want evented to turn old events into their newest shape whenever they are read
  So that business logic, queries and projectors know only today's events,
  while what was stored stays exactly as it was written

  An upcaster turns one event type from one schema version into the next,
  possibly under a new name; evented chains the steps. Here the first
  "OrderPlaced" became a second "OrderPlaced", then was renamed "OrderOpened".

  Background:
    Given an empty event store
    And a stub business logic service for domain "orders"
    And the business logic answers "AddItem" with an "ItemAdded" event

  Scenario: Business logic, queries and projectors see old orders as today's
    Given an upcaster service turns "OrderPlaced" events of domain "orders" from version 1 into version 2
    And an upcaster service turns "OrderPlaced" events of domain "orders" from version 2 into version 3 as "OrderOpened"
    And an asynchronous projector "ledger" for domain "orders"
    And prior events for aggregate "order-1" in domain "orders":
      | sequence | event_type  | schema_version |
      | 0        | OrderPlaced | 1              |
      | 1        | OrderPlaced | 2              |
    When I send an "AddItem" command for aggregate "order-1"
    Then the business logic was given the prior events:
      | sequence | event_type  | schema_version |
      | 0        | OrderOpened | 3              |
      | 1        | OrderOpened | 3              |
    And the events of aggregate "order-1" are:
      | sequence | event_type  | schema_version |
      | 0        | OrderOpened | 3              |
      | 1        | OrderOpened | 3              |
      | 2        | ItemAdded   | 1              |
    And eventually projector "ledger" has received aggregate "order-1" as:
      | sequence | event_type  |
      | 0        | OrderOpened |
      | 1        | OrderOpened |
      | 2        | ItemAdded   |

  Scenario: Events no step applies to are read as they were written
    Given an upcaster service turns "OrderPlaced" events of domain "orders" from version 1 into version 2
    And prior events for aggregate "order-2" in domain "orders":
      | sequence | event_type  | schema_version |
      | 0        | OrderPlaced | 2              |
      | 1        | ItemAdded   | 1              |
    When I query all events of aggregate "order-2"
    Then I get the events with sequences 0, 1
    And the events of aggregate "order-2" are:
      | sequence | event_type  | schema_version |
      | 0        | OrderPlaced | 2              |
      | 1        | ItemAdded   | 1              |

  Scenario: A chain with a missing step keeps evented from starting, naming the step
    Given an upcaster service turns "OrderPlaced" events of domain "orders" from version 1 into version 2
    And an upcaster service turns "OrderPlaced" events of domain "orders" from version 3 into version 4
    When evented starts
    Then evented refuses to start, saying "gap before orders: type.googleapis.com/acceptance.OrderPlaced v3"
    And evented refuses to start, saying "a step from v2 is missing"
