@deadlines
Feature: Deadlines
  A business process waits for time to pass: a transaction that is not completed
  in time is cancelled. The business logic schedules the cancellation when it opens
  the transaction and cancels that deadline when the transaction completes; evented
  keeps the deadline in the event store and sends the command when it is due.

  Background:
    Given a stub business logic service for domain "transactions"
    And the business logic answers "OpenTransaction" with an "TransactionOpened" event and schedules "CancelTransaction" for the same aggregate in 300 ms
    And the business logic answers "CancelTransaction" with a "TransactionCancelled" event
    And the business logic answers "CompleteTransaction" with a "TransactionCompleted" event and cancels what it scheduled

  Scenario: An open transaction is cancelled after its timeout
    When I send an "OpenTransaction" command for aggregate "txn-1"
    Then within 5 seconds the events of aggregate "txn-1" are:
      | sequence | event_type           |
      | 0        | TransactionOpened    |
      | 1        | TransactionCancelled |

  Scenario: A transaction completed in time is never cancelled
    When I send an "OpenTransaction" command for aggregate "txn-2"
    And I send a "CompleteTransaction" command for aggregate "txn-2"
    And 1000 ms pass
    Then the events of aggregate "txn-2" are:
      | sequence | event_type           |
      | 0        | TransactionOpened    |
      | 1        | TransactionCompleted |
