Feature: The example shop, end to end
  evented runs with the example services of one language — customers,
  transactions, the loyalty saga, the receipt, the two log projectors and
  the loyalty balance — all as real processes. The scenarios are the same for every language.
  Names such as "bob" and "t-1" are this scenario's own: each scenario
  works on aggregates no other scenario touches.

  @customer
  Scenario: Registering a customer
    When I register customer "alice" named "Alice" with email "alice@example.com"
    Then customer "alice" is named "Alice" with email "alice@example.com"
    And customer "alice" has 0 loyalty points
    And the customer log shows a "examples.CustomerCreated" event for customer "alice"

  @customer @read-your-writes
  Scenario: A client reads the customer log right after registering (read-your-writes)
    The customer log projector is asynchronous; the command asks evented to
    answer only once the projector has handled its events.
    When I register customer "erin" named "Erin" with email "erin@example.com", waiting for the "log-customer" projector
    Then the command waited for "log-customer", in time
    And the customer log already shows a "examples.CustomerCreated" event for customer "erin"

  @customer @snapshots
  Scenario: A loyal customer's long history is snapshotted by evented
    evented asks the customer service for the customer's state every 20
    events (examples/config.yaml) and drops the snapshots commands return:
    the next command starts from evented's snapshot.
    When I register customer "frank" named "Frank" with email "frank@example.com"
    And customer "frank" is given 5 loyalty points 24 times
    Then eventually customer "frank" loads from a snapshot evented took of 20 events or more
    And customer "frank" has 120 loyalty points

  @customer
  Scenario: A customer needs a name
    When I register customer "nameless" named "" with email "nobody@example.com"
    Then the command is rejected as invalid
    And customer "nameless" has no events

  @customer @upcast
  Scenario: A customer who signed up with the shop's first version
    The first version of the shop stored a sign-up as one contact line,
    "Olga <olga@example.com>". The customer service's upcaster turns it into
    the customer registration of today whenever it is read; what was stored
    stays as it was.
    Given customer "olga" signed up with the first version of the shop as "Olga Petrova <olga@example.com>"
    When customer "olga" is given 10 loyalty points
    Then customer "olga" is named "Olga Petrova" with email "olga@example.com"
    And customer "olga" has 10 loyalty points
    And the customer log shows a "examples.CustomerCreated" event for customer "olga"

  @receipt @loyalty
  Scenario: A completed transaction prints a receipt and earns the customer loyalty points
    Given customer "bob" is registered
    And customer "bob" buys in transaction "t-1":
      | product | name   | quantity | unit price |
      | sku-1   | Widget | 2        | 1000       |
      | sku-2   | Gadget | 1        | 2500       |
    When transaction "t-1" is completed, paid by "card"
    Then the receipt is for transaction "t-1" and customer "bob"
    And the receipt lists the items:
      | product | name   | quantity | unit price |
      | sku-1   | Widget | 2        | 1000       |
      | sku-2   | Gadget | 1        | 2500       |
    And the receipt shows a subtotal of 4500 cents, a discount of 0 cents and a total of 4500 cents
    And the receipt shows payment "card" and 45 loyalty points earned
    And the receipt's text mentions "Widget", "Gadget" and "$45.00"
    And the loyalty saga sent 45 points to customer "bob"
    And customer "bob" has 45 loyalty points
    And no customer was credited under the id of transaction "t-1"
    And the transaction log shows a "examples.TransactionCompleted" event for transaction "t-1"

  @loyalty
  Scenario: Redeeming more points than the balance is rejected
    Given customer "carol" is registered
    And customer "carol" is given 45 loyalty points
    When customer "carol" redeems 100 points
    Then the command is rejected as a failed precondition with "Insufficient points: have 45, need 100"
    And customer "carol" has 45 loyalty points
    When customer "carol" redeems 45 points
    Then customer "carol" has 0 loyalty points

  @loyalty @read-your-writes
  Scenario: The loyalty balance counts new points as soon as they are added (read-your-writes)
    The loyalty balance is a read model kept by an asynchronous projector.
    Adding points asks evented to answer only once that projector has
    handled them, so the balance it published already counts them.
    Given customer "hana" is registered
    And customer "hana" is given 30 loyalty points
    When customer "hana" is given 12 loyalty points, waiting for the "loyalty-balance" projector
    Then the command waited for "loyalty-balance", in time
    And the loyalty balance already shows customer "hana" named "Hana" with 42 points

  @loyalty @subscription
  Scenario: A client watching a customer's loyalty balance sees every change (subscription query)
    The example client loyalty-watch (Go, whatever the language of the
    services) subscribes to one customer's balance: evented sends it the
    current balance, then each new one the projector publishes, in order —
    points added, points redeemed, points a completed transaction earns.
    Given customer "ivan" is registered
    And customer "ivan" is given 10 loyalty points, waiting for the "loyalty-balance" projector
    When I watch the loyalty balance of customer "ivan"
    Then the watch shows customer "ivan" named "Ivan" with 10 points
    When customer "ivan" is given 5 loyalty points
    Then the watch shows customer "ivan" named "Ivan" with 15 points
    When customer "ivan" redeems 8 points
    Then the watch shows customer "ivan" named "Ivan" with 7 points
    Given customer "ivan" buys in transaction "t-10":
      | product | name   | quantity | unit price |
      | sku-1   | Widget | 3        | 1000       |
    When transaction "t-10" is completed, paid by "card"
    Then the watch shows customer "ivan" named "Ivan" with 37 points

  @receipt @discount
  Scenario: A percentage discount
    Given customer "dave" is registered
    And customer "dave" buys in transaction "t-2":
      | product | name   | quantity | unit price |
      | sku-1   | Widget | 2        | 1000       |
      | sku-2   | Gadget | 1        | 2500       |
    When a 10 percent discount is applied to transaction "t-2"
    And transaction "t-2" is completed, paid by "cash"
    Then the receipt shows a subtotal of 4500 cents, a discount of 450 cents and a total of 4050 cents
    And the receipt shows payment "cash" and 40 loyalty points earned
    And customer "dave" has 40 loyalty points

  @cancel
  Scenario: Cancelling a transaction
    Given customer "erin" is registered
    And customer "erin" buys in transaction "t-3":
      | product | name   | quantity | unit price |
      | sku-1   | Widget | 1        | 1000       |
    When transaction "t-3" is cancelled because "changed my mind"
    Then transaction "t-3" has the events "examples.TransactionCreated, examples.TransactionCancelled"
    When transaction "t-3" is completed, paid by "card"
    Then the command is rejected as a failed precondition
    And no receipt was printed for transaction "t-3"
    And customer "erin" has 0 loyalty points

  @timeout
  Scenario: An open transaction is cancelled after its timeout
    The transaction service schedules the cancellation when the transaction is
    created (TRANSACTION_TIMEOUT, 3 seconds here) and cancels it when the
    transaction completes or is cancelled; evented sends it when it is due.
    Given customer "gina" is registered
    And customer "gina" buys in transaction "t-9":
      | product | name   | quantity | unit price |
      | sku-1   | Widget | 1        | 1000       |
    Then transaction "t-9" has the events "examples.TransactionCreated"
    And within 15 seconds transaction "t-9" has the events "examples.TransactionCreated, examples.TransactionCancelled"
    And no receipt was printed for transaction "t-9"

  @query
  Scenario: Querying the events of a customer
    Given customer "frank" is registered
    And customer "frank" is given 10 loyalty points
    And customer "frank" redeems 4 points
    When I read the events of customer "frank"
    Then I get the events, in order:
      | sequence | event                          |
      | 0        | examples.CustomerCreated       |
      | 1        | examples.LoyaltyPointsAdded    |
      | 2        | examples.LoyaltyPointsRedeemed |
    And every event has its creation time
    And customer "frank" is among the aggregates

  @console
  Scenario: The operator sees the shop in the console
    The console on evented's admin port shows the running shop: its
    services, its customers with their decoded events, and every page.
    When I register customer "ivy" named "Ivy" with email "ivy@example.com"
    Then the console's overview shows every example service reachable
    And the console shows customer "ivy" with its events
    And every page of the console answers
