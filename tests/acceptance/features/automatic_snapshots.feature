@snapshots
Feature: Automatic snapshots
  A customer who shops for years has a long history. So that serving them stays
  fast, evented asks the business logic for the customer's state on its own, every
  few events, and keeps it as a snapshot: the next command starts from it instead of
  from the first purchase. No command has to return a snapshot for this.

  Background:
    Given a stub business logic service for domain "customer"
    And the business logic answers "AddLoyaltyPoints" with a "LoyaltyPointsAdded" event

  Scenario: A long-lived customer is snapshotted every 10 events
    Given the "customer" domain takes a snapshot every 10 events
    And the business logic can tell the state of a customer
    When 25 "AddLoyaltyPoints" commands are handled for aggregate "cust-001"
    Then eventually aggregate "cust-001" loads from a snapshot at sequence 20 or later, with fewer than 10 events after it
    And 25 events are persisted for aggregate "cust-001"

  Scenario: A service that cannot tell the state keeps working as before
    Given the "customer" domain takes a snapshot every 3 events
    And the business logic cannot tell the state of a customer
    When 9 "AddLoyaltyPoints" commands are handled for aggregate "cust-002"
    Then eventually the business logic was asked for the state of a customer once
    And 9 events are persisted for aggregate "cust-002"
    And aggregate "cust-002" loads from no snapshot
