// The post itself: a native multipart form post (the API answers with a 303 the browser
// follows), guarded so a double click or a second Enter never sends twice, carrying the tab's
// idempotency key so a retry of the same registration lands on the same folio.

import { flushSync } from 'svelte';
import { etiqueta, mensajeDeCodigo } from './mensajes';
import { llave, type Form } from './sesion';

/** The older front's fallback: if the page is still here after 10 s, the button comes back. */
const REHABILITAR_MS = 10_000;

export class Envio {
	enviando = $state(false);
	llave = $state('');
	readonly form: Form;
	#temporizador: ReturnType<typeof setTimeout> | undefined;

	constructor(form: Form) {
		this.form = form;
	}

	/** On mount: the key, and the same again when the page comes back from the back/forward cache. */
	montar(): () => void {
		this.llave = llave(this.form);
		const alVolver = () => {
			this.enviando = false;
			this.llave = llave(this.form);
		};
		window.addEventListener('pageshow', alVolver);
		return () => {
			window.removeEventListener('pageshow', alVolver);
			clearTimeout(this.#temporizador);
		};
	}

	/**
	 * From the form's submit event, once the page's rules passed. Lets the native post go on
	 * (true), or cancels it because one is already on its way (false).
	 */
	enviar(e: SubmitEvent): boolean {
		if (this.enviando) {
			e.preventDefault();
			return false;
		}
		this.llave = llave(this.form);
		this.enviando = true;
		// The browser reads the form's fields right after this handler returns: the key and the
		// disabled button must be in the DOM by then.
		flushSync();
		clearTimeout(this.#temporizador);
		this.#temporizador = setTimeout(() => (this.enviando = false), REHABILITAR_MS);
		return true;
	}
}

/** `?code=…&campo=…` the error page adds when it sends the person back to fix a field. */
export function retorno(url: URL): { code: string; campo: string } | null {
	const code = url.searchParams.get('code');
	const campo = url.searchParams.get('campo');
	if (!code || !campo || !/^[a-z_0-9]{1,64}$/.test(campo)) return null;
	return { code, campo };
}

/**
 * The server's refusal the error page sent back (`retorno`): its message at the field it names,
 * and the notice shown above the form.
 */
export function errorDevuelto(url: URL): { campo: string; errores: Record<string, string>; aviso: string } | null {
	const vuelta = retorno(url);
	if (!vuelta) return null;
	return {
		campo: vuelta.campo,
		errores: { [vuelta.campo]: mensajeDeCodigo(vuelta.code) },
		aviso: `El servidor no aceptó el campo «${etiqueta(vuelta.campo)}». Corrígelo, vuelve a adjuntar tu comprobante y envía de nuevo.`
	};
}

/** Brings a field into view and focuses it; false when the page has no such field. */
export function enfocar(campo: string): boolean {
	const el = document.getElementById(campo);
	if (!el) return false;
	el.scrollIntoView({ block: 'center' });
	el.focus();
	return true;
}
