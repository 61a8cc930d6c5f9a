// Shared by the pages: the signed-in user (kept per browser tab), login, WebSocket URLs.
'use strict'

const session = {
  get token () { return sessionStorage.getItem('dcrf.token') },
  get username () { return sessionStorage.getItem('dcrf.username') },
  save (username, token) {
    sessionStorage.setItem('dcrf.username', username)
    sessionStorage.setItem('dcrf.token', token)
  },
  clear () {
    sessionStorage.removeItem('dcrf.username')
    sessionStorage.removeItem('dcrf.token')
  }
}

/** POST /api/login; resolves to true when signed in. */
async function login (username, password) {
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password })
  })
  if (response.status !== 200) return false
  session.save(username, (await response.json()).token)
  return true
}

/** The ws:// (or wss://) URL of a path on this server, with the token when signed in. */
function socketUrl (path, withToken = false) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const query = withToken && session.token ? `?token=${encodeURIComponent(session.token)}` : ''
  return `${scheme}//${location.host}${path}${query}`
}

/** Shows who is signed in, in the header's `.who`. */
function showWho () {
  const who = document.querySelector('header .who')
  if (who) who.textContent = session.username ? `Signed in as ${session.username}` : 'Not signed in'
}
document.addEventListener('DOMContentLoaded', showWho)
