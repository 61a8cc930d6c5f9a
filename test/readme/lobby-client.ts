import WebSocket from 'ws'   // in a browser, the global WebSocket

const ws = new WebSocket('ws://127.0.0.1:3000/ws/lobby/')
ws.onmessage = (event) => console.log(JSON.parse(String(event.data)))
ws.onopen = () => {
  ws.send(JSON.stringify({ action: 'set_name', name: 'ada', request_id: 1 }))
  ws.send(JSON.stringify({ action: 'say', text: 'hello', request_id: 2 }))
}
// {"errors":[],"data":{"name":"ada"},"action":"set_name","response_status":200,"request_id":1}
// {"errors":[],"data":null,"action":"say","response_status":202,"request_id":2}
// {"errors":[],"data":{"name":"ada","text":"hello"},"action":"message","response_status":200,"request_id":null}
