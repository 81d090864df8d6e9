// The service worker of /transfer/: deliberately without a "fetch" handler. Browsers
// send every request of a page or worker whose service worker handles no fetch straight
// to the network, and they match a dedicated worker to the registration of its own URL.
// So /transfer/chunk-sender.js, which sends the app's file chunks, is seen by no service
// worker: assets/sw.js (scope /) would otherwise get a copy of every chunk, which Firefox
// and WebKit (no Static Routing API) keep until they collect garbage.
