Feature: Committed events reach the message bus
  As a team whose consumers read RabbitMQ or NATS rather than being called by evented
  I want every committed event published to the bus, each aggregate's in order
  So that a broker that is down delays my events but never loses one

  The store is the outbox: a relay reads it from its own checkpoint and
  publishes each aggregate's events once the broker confirms them. Scenarios
  with a real broker need its address in the environment (AMQP_TEST_URL,
  NATS_TEST_URL, set by .ci/services.sh); stopping the broker needs its
  restart command (AMQP_TEST_RESTART, NATS_TEST_RESTART), which CI sets only
  in the step that runs these scenarios alone.

  Scenario Outline: Commands' events are published to the <bus> bus in order
    Given evented publishes committed events to the "<bus>" bus
    And a stub business logic service for domain "orders"
    And the business logic answers "AddItem" with an "ItemAdded" event
    And a consumer reads the bus
    When I send 6 "AddItem" commands for aggregate "order-1"
    Then the bus consumer receives the events of aggregate "order-1" with sequences 0 to 5, in order

    Examples:
      | bus       |
      | inprocess |
      | amqp      |
      | nats      |

  @broker-restart
  Scenario Outline: The <bus> broker is stopped mid-run and started again: every event still arrives
    Given evented publishes committed events to the "<bus>" bus
    And a stub business logic service for domain "orders"
    And the business logic answers "AddItem" with an "ItemAdded" event
    And a consumer reads the bus
    When I send 3 "AddItem" commands for aggregate "order-2"
    And the broker stops
    And I send 3 "AddItem" commands for aggregate "order-2"
    And the broker starts again
    And I send 3 "AddItem" commands for aggregate "order-2"
    Then the bus consumer receives the events of aggregate "order-2" with sequences 0 to 8, in order

    Examples:
      | bus  |
      | amqp |
      | nats |
