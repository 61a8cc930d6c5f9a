import { PGlite } from '@electric-sql/pglite'
let t = Date.now()
const a = new PGlite(); await a.exec('create table x (id serial primary key)'); console.log('plain', Date.now() - t)
t = Date.now()
const b = new PGlite(); await b.exec('select 1'); console.log('plain again', Date.now() - t)
t = Date.now()
const dump = await a.dumpDataDir('none'); console.log('dump', Date.now() - t, dump.size)
for (let i = 0; i < 3; i++) {
  t = Date.now()
  const c = new PGlite({ loadDataDir: dump }); await c.exec('insert into x default values'); console.log('from dump', Date.now() - t, (await c.query('select count(*) from x')).rows)
}
