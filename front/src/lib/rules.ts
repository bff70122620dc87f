// The form's client-side rules, all derived from the catalog the API serves (`catalog.ts`):
// which committees a modality may choose, which delegations a committee offers to it, the
// fixed values, the limits of every field. Nothing here is a copy of the server's tables; the
// server checks everything again, so these rules only spare the person a round trip.

import type { Campo, Catalogo, Comite, Formulario, Grupo } from './catalog';

export type Valores = Record<string, string>;
/** Field name → message, in the order the fields appear on the page. */
export type Errores = Record<string, string>;

export const PARTICIPANTE_CAMPOS = [
	'nombre',
	'apellido',
	'edad',
	'celular',
	'correo',
	'pais',
	'ciudad_estado',
	'escolaridad',
	'escuela',
	'nombre_contacto',
	'celular_contacto',
	'relacion_contacto',
	'info_extra'
] as const;

export const COMITES_POR_REGISTRO = 3;
export const OPCIONES_POR_COMITE = 3;

export const comiteCampo = (k: number) => `comite_${k}`;
export const opcionCampo = (k: number, j: number) => `comite_${k}_pais_${j}`;
export const filaCampo = (campo: string, i: number) => `${campo}_d${i}`;

export const MENSAJES = {
	requerido: 'Completa este campo.',
	elegir: 'Elige una opción.',
	largo: (max: number) => `Escribe como máximo ${max} caracteres.`,
	edad: (f: Formulario) => `La edad debe ser un número entre ${f.edad.min} y ${f.edad.max}.`,
	correo: 'Escribe un correo válido, por ejemplo nombre@dominio.com.',
	celular: (f: Formulario) =>
		`Escribe un número de ${f.celular.min_digitos} a ${f.celular.max_digitos} dígitos (puede empezar con +).`,
	valor: 'Elige una de las opciones de la lista.',
	comiteRepetido: 'Ya elegiste este comité en otra opción: elige uno distinto.',
	comiteModalidad: 'Este comité no está disponible en la modalidad elegida.',
	delegacionRepetida: 'Ya elegiste esta delegación en este comité: elige una distinta.',
	delegacionAjena: 'Elige una delegación del comité seleccionado.',
	soloIndividual: 'Esta delegación solo está disponible en la modalidad individual.',
	aceptar: 'Debes aceptar el reglamento para continuar.',
	comprobante: 'Adjunta tu comprobante de pago.'
};

// ---- catalog lookups ------------------------------------------------------------------------

export const comitePorCodigo = (cat: Catalogo, codigo: string): Comite | undefined =>
	cat.comites.find((c) => c.codigo === codigo);

/** A group a pair may not take. */
export const grupoSoloIndividual = (comite: Comite, grupo: Grupo): boolean =>
	grupo.solo_individual || (grupo.tipo !== null && comite.tipos_solo_individual.includes(grupo.tipo));

/** How many delegations `comite` offers to `modalidad`. */
export const ofrecidas = (comite: Comite, modalidad: string): number =>
	comite.grupos
		.filter((g) => !(modalidad === 'pareja' && grupoSoloIndividual(comite, g)))
		.reduce((n, g) => n + g.delegaciones.length, 0);

/**
 * May `comite` be chosen in `modalidad`? Its modalities must include it, and it must offer the
 * modality enough delegations to fill every option (a pair may find too few in a committee whose
 * groups are mostly individual-only).
 */
export const admiteModalidad = (comite: Comite, modalidad: string): boolean =>
	comite.modalidades.includes(modalidad) && ofrecidas(comite, modalidad) >= OPCIONES_POR_COMITE;

/** The group that holds `valor` in `comite`, if any. */
export function grupoDe(comite: Comite, valor: string): Grupo | undefined {
	return comite.grupos.find((g) => g.delegaciones.some((d) => d.valor === valor));
}

export interface OpcionesGrupo {
	etiqueta: string | null;
	/** The group exists but the modality cannot take it (shown as a label, options hidden). */
	bloqueado: boolean;
	opciones: { valor: string; texto: string; elegidaEnOtra: boolean }[];
}

/**
 * The delegation choices for slot `j` of committee `codigo` in `modalidad`: grouped as the
 * catalog groups them, each marked when another slot of the same committee already holds it.
 */
export function opcionesDelegacion(
	cat: Catalogo,
	codigo: string,
	modalidad: string,
	elegidas: string[],
	j: number
): OpcionesGrupo[] {
	const comite = comitePorCodigo(cat, codigo);
	if (!comite) return [];
	return comite.grupos.map((g) => {
		const bloqueado = modalidad === 'pareja' && grupoSoloIndividual(comite, g);
		return {
			etiqueta: g.etiqueta,
			bloqueado,
			opciones: bloqueado
				? []
				: g.delegaciones.map((d) => ({
						valor: d.valor,
						texto: d.nombre,
						elegidaEnOtra: elegidas.some((e, i) => i !== j && e === d.valor)
					}))
		};
	});
}

/** Committee choices for slot `k`: every committee, marked unavailable when it cannot be taken. */
export function opcionesComite(cat: Catalogo, modalidad: string, elegidos: string[], k: number) {
	return cat.comites.map((c) => ({
		codigo: c.codigo,
		nombre: c.nombre,
		noAdmite: !admiteModalidad(c, modalidad),
		elegidoEnOtro: elegidos.some((e, i) => i !== k && e === c.codigo)
	}));
}

/**
 * After the modality changes: committees it cannot take are cleared (with their choices), and
 * so are choices from groups it cannot take. Returns the names of the cleared fields.
 */
export function ajustarAModalidad(cat: Catalogo, v: Valores): string[] {
	const limpiados: string[] = [];
	const modalidad = v.modalidad ?? '';
	for (let k = 0; k < COMITES_POR_REGISTRO; k++) {
		const comite = comitePorCodigo(cat, v[comiteCampo(k)] ?? '');
		if (!comite) continue;
		if (!admiteModalidad(comite, modalidad)) {
			v[comiteCampo(k)] = '';
			limpiados.push(comiteCampo(k));
			for (let j = 0; j < OPCIONES_POR_COMITE; j++) {
				if (v[opcionCampo(k, j)]) limpiados.push(opcionCampo(k, j));
				v[opcionCampo(k, j)] = '';
			}
			continue;
		}
		for (let j = 0; j < OPCIONES_POR_COMITE; j++) {
			const g = grupoDe(comite, v[opcionCampo(k, j)] ?? '');
			if (g && modalidad === 'pareja' && grupoSoloIndividual(comite, g)) {
				v[opcionCampo(k, j)] = '';
				limpiados.push(opcionCampo(k, j));
			}
		}
	}
	return limpiados;
}

// ---- single values --------------------------------------------------------------------------

const vacio = (s: string | undefined) => (s ?? '').trim() === '';

/** Length in characters (code points), as the server counts. */
export const largo = (s: string) => [...s].length;

export function edadValida(s: string, f: Formulario): boolean {
	if (!/^[0-9]{1,2}$/.test(s)) return false;
	const n = Number(s);
	return n >= f.edad.min && n <= f.edad.max;
}

/**
 * The server's phone rule, from `formulario.celular`: remove every separator and space character
 * it lists, allow its prefix once at the start, then count ASCII digits.
 */
export function celularValido(s: string, f: Formulario): boolean {
	const { separadores, espacios, prefijo, min_digitos, max_digitos } = f.celular;
	const quitar = new Set([...separadores, ...espacios]);
	const limpio = [...s].filter((c) => !quitar.has(c)).join('');
	const digitos = limpio.startsWith(prefijo) ? limpio.slice(prefijo.length) : limpio;
	return /^[0-9]*$/.test(digitos) && digitos.length >= min_digitos && digitos.length <= max_digitos;
}

/** A plain address (the server also accepts `Nombre <dirección>`; the page asks for the address). */
export const correoValido = (s: string): boolean =>
	/^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:".]{2,}$/u.test(s.trim());

/** Digits only, as the person types an age or a count. */
export const soloDigitos = (s: string) => s.replace(/[^0-9]/g, '');

export interface Archivo {
	name: string;
	type: string;
	size: number;
}

/** The receipt's extension, MIME type and size, against the catalog's table. */
export function revisarComprobante(a: Archivo | null | undefined, f: Formulario): string | null {
	if (!a) return MENSAJES.comprobante;
	const tipos = f.comprobante.tipos;
	const lista = tipos.map((t) => t.extension.replace('.', '').toUpperCase()).join(', ');
	const punto = a.name.lastIndexOf('.');
	const ext = punto >= 0 ? a.name.slice(punto).toLowerCase() : '';
	const tipo = tipos.find((t) => t.extension === ext);
	const mb = Math.floor(f.comprobante.max_bytes / (1024 * 1024));
	if (!tipo) return `El comprobante debe ser un archivo ${lista}.`;
	if (a.size > f.comprobante.max_bytes) return `El comprobante pesa más de ${mb} MB: adjunta un archivo más ligero.`;
	if (a.size === 0) return 'El archivo está vacío: adjunta otro.';
	const mime = a.type.split(';')[0].trim().toLowerCase();
	if (!tipo.mime.includes(mime)) return `El tipo del archivo no coincide con su extensión (${ext}).`;
	return null;
}

/** `accept` attribute for the file input. */
export const aceptaComprobante = (f: Formulario) => f.comprobante.tipos.map((t) => t.extension).join(',');

// ---- whole forms ----------------------------------------------------------------------------

function campoDe(lista: Campo[], nombre: string): Campo | undefined {
	return lista.find((c) => c.nombre === nombre);
}

/** Checks one text value against its declared field: presence, length, kind. */
function revisarValor(
	f: Formulario,
	c: Campo | undefined,
	nombre: string,
	valor: string | undefined,
	requerido: boolean
): string | null {
	const s = valor ?? '';
	if (vacio(s)) return requerido ? (c?.tipo === 'opcion' || c?.tipo === 'comite' ? MENSAJES.elegir : MENSAJES.requerido) : null;
	if (c?.tipo === 'edad' || nombre.startsWith('edad')) return edadValida(s, f) ? null : MENSAJES.edad(f);
	if (c?.max != null && largo(s) > c.max) return MENSAJES.largo(c.max);
	if (c?.tipo === 'opcion' && c.valores && !c.valores.includes(s)) return MENSAJES.valor;
	if (c?.tipo === 'correo' || nombre.startsWith('correo')) return correoValido(s) ? null : MENSAJES.correo;
	if (nombre.startsWith('celular')) return celularValido(s, f) ? null : MENSAJES.celular(f);
	return null;
}

/** The fields of participant `i` the page shows, in page order. */
export function camposParticipante(i: number, v: Valores, f: Formulario): string[] {
	return PARTICIPANTE_CAMPOS.filter(
		(c) => c !== 'escuela' || v[`escolaridad_${i}`] !== f.escolaridad_sin_escuela
	).map((c) => `${c}_${i}`);
}

/** Every field the delegate form shows for these values, in page order. */
export function camposVisiblesDelegaciones(v: Valores, f: Formulario): string[] {
	const out = ['modalidad', 'delegacion_oficial'];
	if (v.delegacion_oficial === 'si') out.push('nombre_delegacion_oficial', 'responsable_delegacion_oficial');
	out.push(...camposParticipante(0, v, f));
	if (v.modalidad === 'pareja') out.push(...camposParticipante(1, v, f));
	for (let k = 0; k < COMITES_POR_REGISTRO; k++) {
		out.push(comiteCampo(k));
		for (let j = 0; j < OPCIONES_POR_COMITE; j++) out.push(opcionCampo(k, j));
	}
	return out;
}

const OPCIONALES = new Set(['info_extra_0', 'info_extra_1']);

/**
 * Everything the delegate form checks before it lets the browser post: what the server requires,
 * plus the page's own stricter asks (all three delegation options, the rules checkbox).
 */
export function validarDelegaciones(
	cat: Catalogo,
	v: Valores,
	archivo: Archivo | null,
	aceptaReglamento: boolean
): Errores {
	const f = cat.formulario;
	const errores: Errores = {};
	const modalidad = v.modalidad ?? '';
	for (const nombre of camposVisiblesDelegaciones(v, f)) {
		if (/^comite_\d(_pais_\d)?$/.test(nombre)) continue;
		const requerido = !OPCIONALES.has(nombre);
		const e = revisarValor(f, campoDe(f.campos.delegaciones, nombre), nombre, v[nombre], requerido);
		if (e) errores[nombre] = e;
	}
	const elegidos: string[] = [];
	for (let k = 0; k < COMITES_POR_REGISTRO; k++) {
		const codigo = v[comiteCampo(k)] ?? '';
		const comite = comitePorCodigo(cat, codigo);
		if (!codigo) errores[comiteCampo(k)] = MENSAJES.elegir;
		else if (!comite) errores[comiteCampo(k)] = MENSAJES.valor;
		else if (!admiteModalidad(comite, modalidad)) errores[comiteCampo(k)] = MENSAJES.comiteModalidad;
		else if (elegidos.includes(codigo)) errores[comiteCampo(k)] = MENSAJES.comiteRepetido;
		elegidos.push(codigo);
		const opciones: string[] = [];
		for (let j = 0; j < OPCIONES_POR_COMITE; j++) {
			const nombre = opcionCampo(k, j);
			const valor = v[nombre] ?? '';
			let e: string | null = null;
			if (!valor) e = MENSAJES.elegir;
			else if (!comite) e = MENSAJES.delegacionAjena;
			else {
				const g = grupoDe(comite, valor);
				if (!g) e = MENSAJES.delegacionAjena;
				else if (modalidad === 'pareja' && grupoSoloIndividual(comite, g)) e = MENSAJES.soloIndividual;
				else if (opciones.includes(valor)) e = MENSAJES.delegacionRepetida;
			}
			opciones.push(valor);
			if (e) errores[nombre] = e;
		}
	}
	const c = revisarComprobante(archivo, f);
	if (c) errores[f.comprobante.campo] = c;
	if (!aceptaReglamento) errores.aceptar_reglamento = MENSAJES.aceptar;
	return errores;
}

export const FILA_CAMPOS = ['nombre', 'apellido', 'edad', 'celular', 'correo', 'pais', 'ciudad_estado', 'escolaridad', 'escuela'] as const;
export type Fila = Record<(typeof FILA_CAMPOS)[number], string>;

export const filaVacia = (): Fila => ({
	nombre: '',
	apellido: '',
	edad: '',
	celular: '',
	correo: '',
	pais: 'México',
	ciudad_estado: '',
	escolaridad: '',
	escuela: ''
});

/** The faculty form: the advisor's fields, then every row (the page shows at least the minimum). */
export function validarFaculty(
	cat: Catalogo,
	v: Valores,
	filas: Fila[],
	archivo: Archivo | null,
	aceptaReglamento: boolean
): Errores {
	const f = cat.formulario;
	const errores: Errores = {};
	for (const c of f.campos.faculty) {
		if (c.nombre === 'numero_delegaciones') continue;
		const e = revisarValor(f, c, c.nombre, v[c.nombre], c.requerido);
		if (e) errores[c.nombre] = e;
	}
	if (filas.length < f.min_delegaciones) {
		errores.numero_delegaciones = `Registra al menos ${f.min_delegaciones} delegaciones.`;
	}
	filas.forEach((fila, i) => {
		for (const c of f.campos.faculty_fila) {
			const base = c.nombre.replace('_d{i}', '') as keyof Fila;
			if (base === 'escuela' && fila.escolaridad === f.escolaridad_sin_escuela) continue;
			const nombre = filaCampo(base, i);
			const requerido = c.requerido || base === 'escuela';
			const e = revisarValor(f, c, nombre, fila[base], requerido);
			if (e) errores[nombre] = e;
		}
	});
	const c = revisarComprobante(archivo, f);
	if (c) errores[f.comprobante.campo] = c;
	if (!aceptaReglamento) errores.aceptar_reglamento = MENSAJES.aceptar;
	return errores;
}
