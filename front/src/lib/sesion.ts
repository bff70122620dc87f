// What one browser tab remembers between the form, the API's redirect and the result pages:
// the idempotency key of the registration in progress and the draft of what was typed. Both
// live in sessionStorage under a per-tab id (the older front's scheme, so a key it stored is
// still found), never in cookies, and are cleared by the confirmation page.

export type Form = 'delegaciones' | 'faculty';

export const FORMS: readonly Form[] = ['delegaciones', 'faculty'];
export const esForm = (s: string | null): s is Form => s === 'delegaciones' || s === 'faculty';

const TAB_PREFIX = 'smmun-registro-tab:';
const keyBase = (form: Form) => `registro-${form}-idempotency-key`;
const draftBase = (form: Form) => `registro-${form}-borrador`;

/** 32 lower-case hex characters from the platform's CSPRNG. */
export function nuevaLlave(): string {
	const bytes = new Uint8Array(16);
	crypto.getRandomValues(bytes);
	return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** This tab's id, kept in `window.name` (survives navigations and reloads of the tab). */
export function tabId(w: { name: string } = window): string {
	if (!w.name.startsWith(TAB_PREFIX)) w.name = TAB_PREFIX + nuevaLlave();
	return w.name.slice(TAB_PREFIX.length);
}

function almacen(): Storage | null {
	try {
		return window.sessionStorage;
	} catch {
		return null; // storage disabled: the key then lives as long as the page
	}
}

/** The tab's key for `form`, created on first use; a legacy key under the bare name moves in. */
export function llave(form: Form): string {
	const s = almacen();
	const slot = `${keyBase(form)}:${tabId()}`;
	if (!s) return nuevaLlave();
	let k = s.getItem(slot);
	if (!k) {
		k = s.getItem(keyBase(form)) ?? nuevaLlave();
		s.setItem(slot, k);
		s.removeItem(keyBase(form));
	}
	return k;
}

/** Forget the key (the next post of this form is a new registration). */
export function olvidarLlave(form: Form): void {
	const s = almacen();
	if (!s) return;
	s.removeItem(`${keyBase(form)}:${tabId()}`);
	s.removeItem(keyBase(form));
}

export function guardarBorrador(form: Form, datos: unknown): void {
	try {
		almacen()?.setItem(`${draftBase(form)}:${tabId()}`, JSON.stringify(datos));
	} catch {
		// quota or disabled storage: the draft is a convenience, the post does not depend on it
	}
}

export function leerBorrador<T>(form: Form): T | null {
	const raw = almacen()?.getItem(`${draftBase(form)}:${tabId()}`);
	if (!raw) return null;
	try {
		return JSON.parse(raw) as T;
	} catch {
		return null;
	}
}

export function olvidarBorrador(form: Form): void {
	almacen()?.removeItem(`${draftBase(form)}:${tabId()}`);
}
