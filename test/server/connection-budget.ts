import t from 'tap'
import { ConnectionBudget } from '../../src/server/connection-budget.js'

t.test('admits up to max, refuses beyond, and admits again after a release', async (t) => {
  const budget = new ConnectionBudget(2)
  t.ok(budget.tryAdmit())
  t.ok(budget.tryAdmit())
  t.notOk(budget.tryAdmit(), 'the third is refused')
  t.equal(budget.open, 2)
  budget.release()
  t.ok(budget.tryAdmit())
  t.throws(() => new ConnectionBudget(0))
  budget.release(); budget.release()
  t.throws(() => budget.release(), 'an unmatched release is a bug')
})
