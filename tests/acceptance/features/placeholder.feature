Feature: Trying evented without business logic
  As a new user
  I want evented to answer commands before I have written any business logic
  So that I can send a command and read an event back in my first minutes

  Scenario: The placeholder turns a CreateX command into an XCreated event
    Given an empty event store
    And no business logic service is configured
    When I send a "CreateX" command for aggregate "x-1" in domain "things"
    Then the reply carries an "XCreated" event at sequence 0
    And the events of aggregate "x-1" are:
      | sequence | event_type |
      | 0        | XCreated   |
