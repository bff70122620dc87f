// The catalog the API serves at `GET /registro/catalogo`: committees, their delegations and the
// form's fixed values (`formulario`), read from the validator's own tables. The front keeps no
// copy of any of it: every rule in `rules.ts` is derived from this object at run time.

export interface Delegacion {
	nombre: string;
	/** What the form posts: `"<codigo>:<nombre>"`. */
	valor: string;
	abreviacion: string;
	emoji: string;
}

export interface Grupo {
	/** `null` for a committee without groups. */
	tipo: string | null;
	etiqueta: string | null;
	/** Not available to a pair (codelegación). */
	solo_individual: boolean;
	delegaciones: Delegacion[];
}

export interface Comite {
	clave: string;
	/** What the form posts as `comite_k`. */
	codigo: string;
	nombre: string;
	nombre_largo: string;
	modalidades: string[];
	tipos_solo_individual: string[];
	grupos: Grupo[];
}

export interface Campo {
	nombre: string;
	requerido: boolean;
	max: number | null;
	tipo: 'texto' | 'opcion' | 'correo' | 'comite' | 'edad';
	valores: string[] | null;
}

export interface TipoComprobante {
	extension: string;
	mime: string[];
}

export interface Formulario {
	modalidades: string[];
	si_no: string[];
	escolaridades: string[];
	escolaridad_sin_escuela: string;
	edad: { min: number; max: number };
	min_delegaciones: number;
	idempotency_key: { campo: string; max: number };
	comprobante: { campo: string; max_bytes: number; tipos: TipoComprobante[] };
	/** Phone rule: drop `separadores` and `espacios`, an optional `prefijo`, then the digits. */
	celular: { min_digitos: number; max_digitos: number; separadores: string; espacios: string; prefijo: string };
	campos: { delegaciones: Campo[]; faculty: Campo[]; faculty_fila: Campo[] };
}

export interface Catalogo {
	comites: Comite[];
	formulario: Formulario;
}

/** The API's origin, fixed at build time (`VITE_API_ORIGIN`); empty means this page's origin. */
export const API_ORIGIN: string = (import.meta.env.VITE_API_ORIGIN ?? '').replace(/\/+$/, '');

export const endpoint = (path: string): string => `${API_ORIGIN}${path}`;

export class CatalogoError extends Error {}

/** Fetches the catalog, checking the parts the pages rely on are there. */
export async function cargarCatalogo(fetcher: typeof fetch = fetch): Promise<Catalogo> {
	let res: Response;
	try {
		res = await fetcher(endpoint('/registro/catalogo'), { headers: { accept: 'application/json' } });
	} catch {
		throw new CatalogoError('No pudimos conectar con el servidor de registro.');
	}
	if (!res.ok) throw new CatalogoError(`El servidor de registro respondió ${res.status}.`);
	const data = (await res.json()) as Partial<Catalogo>;
	if (!Array.isArray(data.comites) || typeof data.formulario !== 'object' || data.formulario === null) {
		throw new CatalogoError('El catálogo recibido no tiene el formato esperado.');
	}
	return data as Catalogo;
}
