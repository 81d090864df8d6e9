//! File chunks sent from a dedicated worker that no service worker sees.
//!
//! A request a service worker intercepts has its body copied into that worker. Chromium
//! lets `assets/sw.js` route the API around itself (the Static Routing API); Firefox and
//! WebKit do not, and keep every copy until they collect garbage: uploading 1 GiB took
//! 0.7–1.1 GiB more memory in Firefox (docs/BROWSERS.md). So chunk uploads go out from
//! `/transfer/chunk-sender.js`, a dedicated worker under `/transfer/`, whose own service
//! worker (`assets/transfer/sw.js`) has no `fetch` handler: browsers match a dedicated
//! worker to the registration of its own URL and send the requests of one whose service
//! worker handles no fetch straight to the network (checked in Chromium, Firefox and
//! WebKit).
//!
//! Where the browser has no service workers (some private windows), nothing intercepts
//! the page's own requests, so the page sends the chunk itself; it does the same if the
//! worker cannot be started (a copy in the service worker is better than no upload).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::{LocalBoxFuture, Shared};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen_futures::JsFuture;

/// The worker's script and the scope of its fetch-less service worker.
const SCOPE: &str = "/transfer/";
const WORKER: &str = "/transfer/chunk-sender.js";
const SERVICE_WORKER: &str = "/transfer/sw.js";
/// How long the fetch-less service worker may take to become active on a first visit.
const ACTIVATION_WAIT: Duration = Duration::from_secs(5);

/// What a chunk upload got back: the server's status and body, or why it did not get there.
pub enum Sent {
    Answer { status: u16, body: String },
    Unreachable(String),
}

/// The worker and the requests it has not answered yet.
struct Sender {
    worker: web_sys::Worker,
    next_id: Cell<u32>,
    pending: RefCell<HashMap<u32, oneshot::Sender<Sent>>>,
    /// The worker failed (its script did not load, or it crashed): the page sends instead.
    broken: Cell<bool>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

/// How this page sends chunks.
#[derive(Clone)]
enum Route {
    Worker(Rc<Sender>),
    /// From the page, for good (no service workers, or the worker would not start).
    Page,
    /// From the page for now: the registration failed (offline?), try again next chunk.
    PageForNow,
}

type Started = Shared<LocalBoxFuture<'static, Route>>;

thread_local! {
    static SENDER: RefCell<Option<Started>> = const { RefCell::new(None) };
}

/// PUTs `body` to `url` (a chunk upload) with `headers`, from the worker where it runs.
pub async fn put(url: &str, headers: &[(&str, String)], body: &Uint8Array) -> Sent {
    match sender().await {
        Some(sender) => sender.put(url, headers, body).await,
        None => put_from_page(url, headers, body).await,
    }
}

/// The worker, started once per page; `None` where the page sends chunks itself. A start
/// that failed (say, offline on a first visit) is tried again on the next chunk.
async fn sender() -> Option<Rc<Sender>> {
    let started = SENDER.with(|cell| cell.borrow_mut().get_or_insert_with(|| start().boxed_local().shared()).clone());
    match started.await {
        Route::Worker(sender) => Some(sender).filter(|sender| !sender.broken.get()),
        Route::Page => None,
        Route::PageForNow => {
            SENDER.with(|cell| cell.borrow_mut().take());
            None
        }
    }
}

async fn start() -> Route {
    let Some(window) = web_sys::window() else { return Route::Page };
    let navigator = window.navigator();
    let container = Reflect::get(&navigator, &"serviceWorker".into()).unwrap_or_default();
    if container.is_undefined() || container.is_null() {
        return Route::Page;
    }
    let container: web_sys::ServiceWorkerContainer = container.unchecked_into();
    let options = web_sys::RegistrationOptions::new();
    options.set_scope(SCOPE);
    let registered = JsFuture::from(container.register_with_options(SERVICE_WORKER, &options)).await;
    let Some(registration) = registered.ok().and_then(|r| r.dyn_into::<web_sys::ServiceWorkerRegistration>().ok())
    else {
        return Route::PageForNow;
    };
    // A worker started before its scope's service worker is active would be matched to
    // the app's service worker instead.
    let waited = Duration::from_millis(25);
    let mut left = ACTIVATION_WAIT;
    while registration.active().is_none() {
        let Some(less) = left.checked_sub(waited) else { return Route::Page };
        left = less;
        gloo_timers::future::sleep(waited).await;
    }
    Sender::start().map_or(Route::Page, Route::Worker)
}

impl Sender {
    fn start() -> Option<Rc<Sender>> {
        let worker = web_sys::Worker::new(WORKER).ok()?;
        let sender = Rc::new_cyclic(|weak: &std::rc::Weak<Sender>| {
            let on_message = {
                let weak = weak.clone();
                Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                    if let Some(sender) = weak.upgrade() {
                        sender.answered(&event.data());
                    }
                })
            };
            let on_error = {
                let weak = weak.clone();
                Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                    if let Some(sender) = weak.upgrade() {
                        sender.failed();
                    }
                })
            };
            Sender {
                worker,
                next_id: Cell::new(0),
                pending: RefCell::default(),
                broken: Cell::new(false),
                _on_message: on_message,
                _on_error: on_error,
            }
        });
        sender.worker.set_onmessage(Some(sender._on_message.as_ref().unchecked_ref()));
        sender.worker.set_onerror(Some(sender._on_error.as_ref().unchecked_ref()));
        Some(sender)
    }

    async fn put(&self, url: &str, headers: &[(&str, String)], body: &Uint8Array) -> Sent {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let (answer, answered) = oneshot::channel();
        self.pending.borrow_mut().insert(id, answer);
        let message = Object::new();
        let header_object = Object::new();
        for (name, value) in headers {
            let _ = Reflect::set(&header_object, &(*name).into(), &value.into());
        }
        let _ = Reflect::set(&message, &"id".into(), &id.into());
        let _ = Reflect::set(&message, &"url".into(), &url.into());
        let _ = Reflect::set(&message, &"headers".into(), &header_object);
        // Copied to the worker (not transferred): a retry sends the same bytes again.
        let _ = Reflect::set(&message, &"body".into(), body);
        if let Err(e) = self.worker.post_message(&message) {
            self.pending.borrow_mut().remove(&id);
            return Sent::Unreachable(format!("{e:?}"));
        }
        answered.await.unwrap_or_else(|_| Sent::Unreachable("the upload worker stopped".into()))
    }

    /// Every unanswered chunk fails as unreachable (the upload retries it, from the page).
    fn failed(&self) {
        self.broken.set(true);
        self.worker.terminate();
        for (_, answer) in self.pending.borrow_mut().drain() {
            let _ = answer.send(Sent::Unreachable("the upload worker failed".into()));
        }
    }

    fn answered(&self, data: &wasm_bindgen::JsValue) {
        let field = |name: &str| Reflect::get(data, &name.into()).ok();
        let Some(id) = field("id").and_then(|v| v.as_f64()) else { return };
        let Some(answer) = self.pending.borrow_mut().remove(&(id as u32)) else { return };
        let sent = match (field("status").and_then(|v| v.as_f64()), field("body").and_then(|v| v.as_string())) {
            (Some(status), Some(body)) => Sent::Answer { status: status as u16, body },
            _ => Sent::Unreachable(field("error").and_then(|v| v.as_string()).unwrap_or_default()),
        };
        let _ = answer.send(sent);
    }
}

/// The same PUT, from the page.
async fn put_from_page(url: &str, headers: &[(&str, String)], body: &Uint8Array) -> Sent {
    let mut request = gloo_net::http::RequestBuilder::new(url).method(gloo_net::http::Method::PUT);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let sent = async {
        let response = request.body(body.clone())?.send().await?;
        Ok::<_, gloo_net::Error>((response.status(), response.text().await?))
    };
    match sent.await {
        Ok((status, body)) => Sent::Answer { status, body },
        Err(e) => Sent::Unreachable(e.to_string()),
    }
}
