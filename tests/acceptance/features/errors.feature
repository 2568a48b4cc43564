Feature: Refused commands
  As a client of evented
  I want a refused command to say precisely why, with the right status code
  So that I can tell my mistakes from my business rules and from conflicts

  Background:
    Given an empty event store
    And a stub business logic service for domain "orders"
    And the business logic service also decides domain "inventory"

  Scenario: A command for an unknown domain is not found
    When I send a "CreateShipment" command for aggregate "shipment-1" in domain "shipping"
    Then the command fails with NOT_FOUND
    And the message contains "shipping"
    And the message contains "inventory"
    And the message contains "orders"
    And the business logic was never asked

  Scenario: A command whose aggregate root is not a UUID is invalid
    When I send a "CreateOrder" command to domain "orders" for an aggregate whose root is 3 bytes long
    Then the command fails with INVALID_ARGUMENT
    And the message contains "cover.root.value"
    And the business logic was never asked

  Scenario: A business rejection passes through unchanged
    Given prior events for aggregate "order-11" in domain "orders":
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | OrderShipped |
    And the business logic rejects "AddItem" with "order order-11 is already shipped"
    When I send an "AddItem" command for aggregate "order-11"
    Then the command fails with FAILED_PRECONDITION
    And the message is "order order-11 is already shipped"
    And the events of aggregate "order-11" are:
      | sequence | event_type   |
      | 0        | OrderCreated |
      | 1        | OrderShipped |
