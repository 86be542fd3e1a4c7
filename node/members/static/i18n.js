// Every string the page shows, English and Spanish, in two tables: this
// one holds what every page and the first view (browse) need, and
// i18n-views.js and i18n-chapter.js, loaded with the other views, add theirs
// (so the first load carries only what it shows). The language comes from the member's choice
// (remembered in localStorage), else from the browser's languages, else
// English. t(key, {name: value}) fills {name} placeholders; a missing key
// falls back to English, then to the key. Category names are not here: the
// node serves them with its list (api.js).
export const LANGUAGES = [["en", "English"], ["es", "Español"]];
const STORE_KEY = "mutualaid.lang";

const en = {
  title: "Mutual aid",
  tagline: "neighbours helping neighbours",
  skip: "Skip to content",
  footer: "Run by your chapter's node. No account, no tracking: only the person who posted can read the replies sent to them.",
  "lang.label": "Page language",
  "nav.browse": "Needs and offers",
  "nav.post": "Post",
  "nav.report": "Report",
  "nav.events": "Events",
  "nav.proposals": "Proposals",
  "nav.me": "My card",
  "missing.title": "This page does not exist",
  "kind.need": "Need",
  "kind.offer": "Offer",
  "kind.needs": "Needs",
  "kind.offers": "Offers",
  "status.open": "Open",
  "status.claimed": "Someone is on it",
  "status.fulfilled": "Fulfilled",
  "status.withdrawn": "Withdrawn",
  "urgency.low": "Whenever possible",
  "urgency.normal": "Soon",
  "urgency.high": "Urgent",
  "urgency.urgent": "Very urgent",
  "order.newest": "Newest first",
  "order.urgency": "Most urgent first",
  "field.title": "Title",
  "field.category": "Category",
  "field.area": "Area",
  "field.details": "Details",
  "field.urgency": "Urgency",
  "field.needed_by": "Needed by",
  "field.quantity": "Quantity",
  "field.languages": "Languages",
  "field.give_back": "Something I can give back",
  "browse.title": "Needs and offers near you",
  "browse.lead": "Everyone here is a member: anyone can ask, anyone can offer.",
  "browse.postLink": "Post a need or an offer",
  "browse.text": "Search",
  "browse.search": "Search",
  "browse.filters": "More filters",
  "browse.apply": "Apply filters",
  "browse.kind": "Needs or offers",
  "browse.all": "Both",
  "browse.any": "Any",
  "browse.areaHint": "An area code, or its first letters for a wider area.",
  "browse.language": "Language",
  "browse.languageHint": "A language code such as en or es.",
  "browse.order": "Order",
  "browse.none": "Nothing matches yet. Try fewer filters, or post what you need or can offer.",
  "browse.more": "Show more",
  "browse.moreShown.one": "1 more shown.",
  "browse.moreShown.other": "{count} more shown.",
  "card.area": "area {area}",
  "card.neededBy": "needed by {date}",
  "card.posted": "posted {date}",
  "card.quantity": "Quantity {quantity}",
  "error.ambiguous_id": "That id is the start of more than one post. Give more of it.",
  "error.wrong_kind": "Something you can give back belongs to a need, not to an offer.",
  "error.bad_input": "The node could not use what was sent.",
  "error.bad_signature": "The node could not use what was sent.",
  "error.bad_bundle": "The bundle of records is damaged or incomplete, so nothing was taken from it.",
  "error.invalid_passphrase": "That passphrase is too short or too long.",
  "error.admin_off": "This node has no organizers' token, so the organizers' pages are off. Its operator can set one up.",
  "error.bad_reconcile_message": "The node could not use what was sent.",
  "error.bad_request": "The node could not read that request. Please reload the page.",
  "error.client_reply_limit": "{replies} replies to this post have already been sent from this connection, as many as one connection may send, so this one was not sent. Everyone using the same connection (a household, a shared computer) shares that limit. The replies sent before this one are on their way to the poster.",
  "error.header_too_large": "The request was too large for the node. Please reload the page.",
  "error.url_too_long": "That address or search is too long for the node. Try fewer words.",
  "error.not_this_node": "Only the node this post was made through can open its replies. Open your private link on that node.",
  "error.network": "The node could not be reached. Check your connection and try again.",
  "error.not_found": "This was not found here. It may have expired or been replaced by a newer version.",
  "error.removed": "This post was removed by this node's organizers.",
  "error.forbidden": "This link or token does not allow that.",
  "error.unauthorized": "This needs your private link or the organizers' token.",
  "error.invalid_record": "The post was not accepted. Please check what you wrote.",
  "error.invalid_reply": "The reply was not accepted. Please check the message (up to {message} characters) and how to reach you.",
  "error.invalid_flag": "Please choose a reason for the report.",
  "error.invalid_note": "The note was not accepted (up to {note} characters, plain text).",
  "error.invalid_reason": "Please write a reason (up to {reason} characters, plain text).",
  "error.invalid_id": "That is not a post this node can act on.",
  "error.closed": "This post is closed: it takes no more replies.",
  "error.no_profile": "This node cannot reach the poster's node yet. Please try again later.",
  "error.too_many_replies": "This post has had as many replies as it can take through this node.",
  "error.too_many_flags": "This post has already been reported many times. The organizers will see it.",
  "error.too_many_requests": "Too many changes from here in a short time.",
  "error.too_many_requests.later": "Please wait a little and try again.",
  "error.cross_site": "The node refused a change sent from another site.",
  "error.body_too_large": "That is too long for the node to accept.",
  "error.bad_query": "The node did not understand that search.",
  "error.bad_json": "The node did not understand what the page sent. Please reload the page.",
  "error.unknown_field": "The node did not understand what the page sent. Please reload the page.",
  "error.unsupported_media_type": "The node did not understand what the page sent. Please reload the page.",
  "error.method_not_allowed": "The node does not do that here. Please reload the page.",
  "error.decode_error": "The node could not read what was sent.",
  "error.conflict": "The post changed meanwhile. Please reload the page and try again.",
  "error.not_stored": "The node did not keep it. Please reload the page and try again.",
  "error.bad_key": "That key was not accepted.",
  "error.bad_policy": "That rule was not accepted.",
  "error.bad_url": "That address was not accepted.",
  "error.busy": "The node is busy. Please try again in a few minutes.",
  "error.internal": "The node had a problem. Please try again later.",
  "error.http_error": "The node answered with an error.",
  "error.unknown": "Something went wrong. Please try again.",
  "error.detail": "The node said:",
  "error.retryIn.one": "You can try again in 1 second.",
  "error.retryIn.other": "You can try again in {count} seconds.",
};

const es = {
  title: "Apoyo mutuo",
  tagline: "vecinas y vecinos que se ayudan",
  skip: "Ir al contenido",
  footer: "Lo sirve el nodo de tu grupo. Sin cuentas ni rastreo: solo quien publicó puede leer las respuestas que recibe.",
  "lang.label": "Idioma de la página",
  "nav.browse": "Necesidades y ofertas",
  "nav.post": "Publicar",
  "nav.report": "Informe",
  "nav.events": "Eventos",
  "nav.proposals": "Propuestas",
  "nav.me": "Mi tarjeta",
  "missing.title": "Esta página no existe",
  "kind.need": "Necesidad",
  "kind.offer": "Oferta",
  "kind.needs": "Necesidades",
  "kind.offers": "Ofertas",
  "status.open": "Abierta",
  "status.claimed": "Alguien se ocupa",
  "status.fulfilled": "Resuelta",
  "status.withdrawn": "Retirada",
  "urgency.low": "Cuando se pueda",
  "urgency.normal": "Pronto",
  "urgency.high": "Urgente",
  "urgency.urgent": "Muy urgente",
  "order.newest": "Más recientes primero",
  "order.urgency": "Más urgentes primero",
  "field.title": "Título",
  "field.category": "Categoría",
  "field.area": "Zona",
  "field.details": "Detalles",
  "field.urgency": "Urgencia",
  "field.needed_by": "Para cuándo",
  "field.quantity": "Cantidad",
  "field.languages": "Idiomas",
  "field.give_back": "Algo que puedo aportar",
  "browse.title": "Necesidades y ofertas cerca de ti",
  "browse.lead": "Aquí todas las personas son miembros: cualquiera puede pedir y cualquiera puede ofrecer.",
  "browse.postLink": "Publicar una necesidad o una oferta",
  "browse.text": "Buscar",
  "browse.search": "Buscar",
  "browse.filters": "Más filtros",
  "browse.apply": "Aplicar filtros",
  "browse.kind": "Necesidades u ofertas",
  "browse.all": "Ambas",
  "browse.any": "Cualquiera",
  "browse.areaHint": "Un código de zona, o sus primeras letras para una zona más amplia.",
  "browse.language": "Idioma",
  "browse.languageHint": "Un código de idioma, como es o en.",
  "browse.order": "Orden",
  "browse.none": "Todavía no hay nada así. Prueba con menos filtros, o publica lo que necesitas o puedes ofrecer.",
  "browse.more": "Ver más",
  "browse.moreShown.one": "1 más a la vista.",
  "browse.moreShown.other": "{count} más a la vista.",
  "card.area": "zona {area}",
  "card.neededBy": "para el {date}",
  "card.posted": "publicada el {date}",
  "card.quantity": "Cantidad {quantity}",
  "error.ambiguous_id": "Ese identificador es el comienzo de más de una publicación. Escribe más caracteres.",
  "error.wrong_kind": "Algo que puedes aportar va con una necesidad, no con una oferta.",
  "error.bad_input": "El nodo no pudo usar lo que se envió.",
  "error.bad_signature": "El nodo no pudo usar lo que se envió.",
  "error.bad_bundle": "El paquete de registros está dañado o incompleto, así que no se tomó nada de él.",
  "error.invalid_passphrase": "Esa frase de contraseña es demasiado corta o demasiado larga.",
  "error.admin_off": "Este nodo no tiene clave de la organización, así que sus páginas de organización están apagadas. Quien lo administra puede crearla.",
  "error.bad_reconcile_message": "El nodo no pudo usar lo que se envió.",
  "error.bad_request": "El nodo no pudo leer esa petición. Vuelve a cargar la página.",
  "error.client_reply_limit": "Desde esta conexión ya se enviaron {replies} respuestas a esta publicación, todas las que puede enviar una conexión, así que esta no se envió. Quienes usan la misma conexión (un hogar, un ordenador compartido) comparten ese límite. Las respuestas enviadas antes de esta van de camino a quien publicó.",
  "error.header_too_large": "La petición era demasiado grande para el nodo. Vuelve a cargar la página.",
  "error.url_too_long": "Esa dirección o búsqueda es demasiado larga para el nodo. Prueba con menos palabras.",
  "error.not_this_node": "Solo el nodo donde se hizo esta publicación puede abrir sus respuestas. Abre tu enlace privado en ese nodo.",
  "error.network": "No se pudo llegar al nodo. Revisa tu conexión y vuelve a intentarlo.",
  "error.not_found": "No se encontró aquí. Puede que haya caducado o que haya una versión más nueva.",
  "error.removed": "Quienes organizan este nodo quitaron esta publicación.",
  "error.forbidden": "Este enlace o esta clave no permiten hacer eso.",
  "error.unauthorized": "Hace falta tu enlace privado o la clave de la organización.",
  "error.invalid_record": "No se aceptó la publicación. Revisa lo que escribiste.",
  "error.invalid_reply": "No se aceptó la respuesta. Revisa el mensaje (hasta {message} caracteres) y cómo contactarte.",
  "error.invalid_flag": "Elige un motivo para el aviso.",
  "error.invalid_note": "No se aceptó la nota (hasta {note} caracteres, solo texto).",
  "error.invalid_reason": "Escribe un motivo (hasta {reason} caracteres, solo texto).",
  "error.invalid_id": "Este nodo no puede hacer eso con esa publicación.",
  "error.closed": "Esta publicación está cerrada: ya no recibe respuestas.",
  "error.no_profile": "Este nodo todavía no puede llegar al nodo de quien publicó. Vuelve a intentarlo más tarde.",
  "error.too_many_replies": "Esta publicación ya recibió todas las respuestas que admite por este nodo.",
  "error.too_many_flags": "Esta publicación ya tiene muchos avisos. La organización los verá.",
  "error.too_many_requests": "Demasiados cambios desde aquí en poco tiempo.",
  "error.too_many_requests.later": "Espera un poco y vuelve a intentarlo.",
  "error.cross_site": "El nodo rechazó un cambio enviado desde otro sitio.",
  "error.body_too_large": "Es demasiado largo para que el nodo lo acepte.",
  "error.bad_query": "El nodo no entendió esa búsqueda.",
  "error.bad_json": "El nodo no entendió lo que envió la página. Vuelve a cargar la página.",
  "error.unknown_field": "El nodo no entendió lo que envió la página. Vuelve a cargar la página.",
  "error.unsupported_media_type": "El nodo no entendió lo que envió la página. Vuelve a cargar la página.",
  "error.method_not_allowed": "El nodo no hace eso aquí. Vuelve a cargar la página.",
  "error.decode_error": "El nodo no pudo leer lo que se envió.",
  "error.conflict": "La publicación cambió mientras tanto. Vuelve a cargar la página e inténtalo otra vez.",
  "error.not_stored": "El nodo no lo guardó. Vuelve a cargar la página e inténtalo otra vez.",
  "error.bad_key": "No se aceptó esa clave.",
  "error.bad_policy": "No se aceptó esa regla.",
  "error.bad_url": "No se aceptó esa dirección.",
  "error.busy": "El nodo está ocupado. Vuelve a intentarlo en unos minutos.",
  "error.internal": "El nodo tuvo un problema. Vuelve a intentarlo más tarde.",
  "error.http_error": "El nodo respondió con un error.",
  "error.unknown": "Algo salió mal. Vuelve a intentarlo.",
  "error.detail": "El nodo dijo:",
  "error.retryIn.one": "Puedes volver a intentarlo en 1 segundo.",
  "error.retryIn.other": "Puedes volver a intentarlo en {count} segundos.",
};

export const TABLE = { en, es };

function chooseLang() {
  let saved = null;
  try {
    saved = localStorage.getItem(STORE_KEY);
  } catch {
    saved = null; // storage may be off; the browser's languages still work
  }
  if (saved && TABLE[saved]) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (TABLE[base]) return base;
  }
  return "en";
}

let current = chooseLang();

export function getLang() {
  return current;
}

export function setLang(code) {
  if (!TABLE[code]) return;
  current = code;
  try {
    localStorage.setItem(STORE_KEY, code);
  } catch {
    // not remembered, but still switched
  }
  document.documentElement.lang = code;
}

// The strings of the later views (i18n-views.js), added to each language's table.
export function addStrings(tables) {
  for (const [code, table] of Object.entries(tables)) Object.assign(TABLE[code], table);
}

// What build() makes, in another language than the page's (a handout printed
// in Spanish from an English page), without changing the member's choice.
// build() must not wait on anything: the language is the page's again after it.
export function inLanguage(code, build) {
  const saved = current;
  if (TABLE[code]) current = code;
  try {
    return build();
  } finally {
    current = saved;
  }
}

export function hasKey(key) {
  return key in en;
}

export function t(key, vars) {
  const text = TABLE[current][key] ?? en[key] ?? key;
  return vars ? text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : text;
}

// A count in words: key.zero (if the table has it) for 0, else the
// language's plural form (key.one, key.many...), else key.other; {count} is
// the number written for the page's language.
export function tn(key, count, vars) {
  const table = TABLE[current];
  let form = count === 0 && (table[`${key}.zero`] || en[`${key}.zero`]) ? "zero" : new Intl.PluralRules(current).select(count);
  if (!(`${key}.${form}` in table) && !(`${key}.${form}` in en)) form = "other";
  return t(`${key}.${form}`, { count: Number(count).toLocaleString(current), ...(vars || {}) });
}
