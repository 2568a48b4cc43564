Feature: Reading events
  As a projector, a saga or an operator
  I want to read an aggregate's events by sequence range
  So that I can rebuild state from where I need it

  Background:
    Given an empty event store
    And a stub business logic service for domain "orders"
    And prior events for aggregate "order-5" in domain "orders":
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | ItemAdded    |
      | 2        | ItemAdded    |
      | 3        | ItemRemoved  |
      | 4        | OrderPlaced  |

  Scenario Outline: Reading a range of sequences
    The lower bound is included, the upper bound excluded; an upper bound of 0 means no limit.
    When I query the events of aggregate "order-5" with lower bound <lower> and upper bound <upper>
    Then I get the events with sequences <sequences>
    And I get no snapshot

    Examples:
      | lower | upper | sequences     |
      | 1     | 3     | 1, 2          |
      | 3     | 0     | 3, 4          |
      | 0     | 0     | 0, 1, 2, 3, 4 |
      | 5     | 0     | none          |

  Scenario: Reading everything starts from the latest snapshot
    Given the business logic answers "AddItem" with an "ItemAdded" event and a snapshot
    And an "AddItem" command was handled for aggregate "order-5"
    When I query all events of aggregate "order-5"
    Then I get the snapshot at sequence 6
    And I get no events

  Scenario: Reading everything after a snapshot gives the snapshot and the later events
    Given the business logic answers "AddItem" with an "ItemAdded" event and a snapshot
    And an "AddItem" command was handled for aggregate "order-5"
    And prior events for aggregate "order-5" in domain "orders":
      | sequence | event_type |
      | 6        | ItemAdded  |
      | 7        | ItemAdded  |
    When I query all events of aggregate "order-5"
    Then I get the snapshot at sequence 6
    And I get the events with sequences 6, 7

  Scenario: Reading an aggregate that has no events
    When I query all events of aggregate "order-never" in domain "orders"
    Then I get one empty book for aggregate "order-never" in domain "orders"
