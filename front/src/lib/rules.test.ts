// The page's rules, derived from the catalog the example catalog serves
// (`testdata/catalogo.json`, kept equal to `GET /registro/catalogo` by a Rust test).
import { describe, expect, it } from 'vitest';
import type { Catalogo } from './catalog';
import datos from './testdata/catalogo.json';
import {
	admiteModalidad,
	ajustarAModalidad,
	ofrecidas,
	celularValido,
	comiteCampo,
	comitePorCodigo,
	edadValida,
	filaCampo,
	filaVacia,
	grupoSoloIndividual,
	opcionCampo,
	opcionesComite,
	opcionesDelegacion,
	revisarComprobante,
	validarDelegaciones,
	validarFaculty,
	type Fila,
	type Valores
} from './rules';

const cat = datos as unknown as Catalogo;
const f = cat.formulario;
const recibo = { name: 'recibo.pdf', type: 'application/pdf', size: 1234 };

/** Three committees the modality admits, each with three options it offers. */
function elecciones(modalidad: string, salto = 0): Valores {
	const v: Valores = {};
	const comites = cat.comites.filter((c) => admiteModalidad(c, modalidad));
	for (let k = 0; k < 3; k++) {
		const c = comites[(k + salto) % comites.length];
		v[comiteCampo(k)] = c.codigo;
		const ofrecidas = opcionesDelegacion(cat, c.codigo, modalidad, [], 0).flatMap((g) => g.opciones.map((o) => o.valor));
		for (let j = 0; j < 3; j++) v[opcionCampo(k, j)] = ofrecidas[j];
	}
	return v;
}

function persona(i: number): Valores {
	return {
		[`nombre_${i}`]: 'Ana',
		[`apellido_${i}`]: 'Pérez',
		[`edad_${i}`]: '17',
		[`celular_${i}`]: '+52 999 123 4567',
		[`correo_${i}`]: 'ana@example.com',
		[`pais_${i}`]: 'México',
		[`ciudad_estado_${i}`]: 'Mérida, Yucatán',
		[`escolaridad_${i}`]: 'Preparatoria',
		[`escuela_${i}`]: 'Colegio Montejo',
		[`nombre_contacto_${i}`]: 'María Gómez',
		[`celular_contacto_${i}`]: '(999) 765-4321',
		[`relacion_contacto_${i}`]: 'Madre'
	};
}

const individual = (): Valores => ({ modalidad: 'individual', delegacion_oficial: 'no', ...persona(0), ...elecciones('individual') });
const pareja = (): Valores => ({ modalidad: 'pareja', delegacion_oficial: 'no', ...persona(0), ...persona(1), ...elecciones('pareja') });

describe('the catalog has the shapes these tests rely on', () => {
	it('a committee closed to pairs and a group closed to pairs', () => {
		expect(cat.comites.some((c) => !c.modalidades.includes('pareja'))).toBe(true);
		expect(cat.comites.some((c) => c.grupos.some((g) => grupoSoloIndividual(c, g)))).toBe(true);
	});
});

describe('committee choices', () => {
	it('a pair cannot take a committee whose modalities lack pareja; an individual can take all', () => {
		for (const c of opcionesComite(cat, 'pareja', ['', '', ''], 0)) {
			const comite = comitePorCodigo(cat, c.codigo)!;
			if (!comite.modalidades.includes('pareja')) expect(c.noAdmite, c.codigo).toBe(true);
		}
		expect(opcionesComite(cat, 'individual', ['', '', ''], 0).every((c) => !c.noAdmite)).toBe(true);
	});

	it('a committee offering a modality fewer delegations than options is closed to it', () => {
		for (const c of cat.comites) {
			for (const m of f.modalidades) {
				const abierto = c.modalidades.includes(m) && ofrecidas(c, m) >= 3;
				expect(admiteModalidad(c, m), `${c.codigo} ${m}`).toBe(abierto);
			}
		}
	});

	it('a committee chosen in another slot is marked, the slot itself is not', () => {
		const a = cat.comites[0].codigo;
		const en1 = opcionesComite(cat, 'individual', ['', a, ''], 0).find((c) => c.codigo === a)!;
		const en0 = opcionesComite(cat, 'individual', [a, '', ''], 0).find((c) => c.codigo === a)!;
		expect(en1.elegidoEnOtro).toBe(true);
		expect(en0.elegidoEnOtro).toBe(false);
	});
});

describe('delegation choices', () => {
	it('every offered option belongs to the committee, and pairs see no individual-only group', () => {
		for (const c of cat.comites) {
			for (const modalidad of f.modalidades) {
				const grupos = opcionesDelegacion(cat, c.codigo, modalidad, [], 0);
				expect(grupos.length).toBe(c.grupos.length);
				grupos.forEach((g, gi) => {
					const original = c.grupos[gi];
					const cerrado = modalidad === 'pareja' && grupoSoloIndividual(c, original);
					expect(g.bloqueado).toBe(cerrado);
					expect(g.opciones.map((o) => o.valor)).toEqual(cerrado ? [] : original.delegaciones.map((d) => d.valor));
					for (const o of g.opciones) expect(o.valor.startsWith(`${c.codigo}:`)).toBe(true);
				});
			}
		}
	});

	it('an option taken by another slot of the same committee is marked', () => {
		const c = cat.comites[0];
		const [a, b] = c.grupos[0].delegaciones.map((d) => d.valor);
		const opciones = opcionesDelegacion(cat, c.codigo, 'individual', [a, '', b], 1).flatMap((g) => g.opciones);
		expect(opciones.find((o) => o.valor === a)!.elegidaEnOtra).toBe(true);
		expect(opciones.find((o) => o.valor === b)!.elegidaEnOtra).toBe(true);
		const propias = opcionesDelegacion(cat, c.codigo, 'individual', [a, '', b], 0).flatMap((g) => g.opciones);
		expect(propias.find((o) => o.valor === a)!.elegidaEnOtra).toBe(false);
	});

	it('an unknown committee offers nothing', () => {
		expect(opcionesDelegacion(cat, 'NO-EXISTE', 'individual', [], 0)).toEqual([]);
	});
});

describe('switching to pareja', () => {
	it('clears committees closed to pairs with their choices, and choices from closed groups', () => {
		const cerrado = cat.comites.find((c) => !c.modalidades.includes('pareja'))!;
		const conGrupo = cat.comites.find((c) => admiteModalidad(c, 'pareja') && c.grupos.some((g) => grupoSoloIndividual(c, g)))!;
		const soloInd = conGrupo.grupos.find((g) => grupoSoloIndividual(conGrupo, g))!.delegaciones[0].valor;
		const abierta = conGrupo.grupos.find((g) => !grupoSoloIndividual(conGrupo, g))!.delegaciones[0].valor;
		const v: Valores = {
			modalidad: 'pareja',
			comite_0: cerrado.codigo,
			comite_0_pais_0: cerrado.grupos[0].delegaciones[0].valor,
			comite_1: conGrupo.codigo,
			comite_1_pais_0: soloInd,
			comite_1_pais_1: abierta
		};
		const quitados = ajustarAModalidad(cat, v);
		expect(quitados).toEqual(['comite_0', 'comite_0_pais_0', 'comite_1_pais_0']);
		expect(v.comite_0).toBe('');
		expect(v.comite_1).toBe(conGrupo.codigo);
		expect(v.comite_1_pais_0).toBe('');
		expect(v.comite_1_pais_1).toBe(abierta);
	});

	it('changes nothing for an individual', () => {
		const v = individual();
		const antes = { ...v };
		expect(ajustarAModalidad(cat, v)).toEqual([]);
		expect(v).toEqual(antes);
	});
});

describe('single values follow formulario', () => {
	it('ages inside the served range, ASCII digits only', () => {
		const { min, max } = f.edad;
		const casos: [string, boolean][] = [
			[String(min), true],
			[String(max), true],
			[String(min - 1), false],
			[String(max + 1), false],
			['', false],
			['1a', false],
			[' 17', false],
			['١٧', false],
			['017', false]
		];
		for (const [s, ok] of casos) expect(edadValida(s, f), s).toBe(ok);
	});

	it('phones: separators removed, optional +, digit count inside the served bounds', () => {
		const digitos = (n: number) => '9'.repeat(n);
		const casos: [string, boolean][] = [
			[digitos(f.celular.min_digitos), true],
			[digitos(f.celular.max_digitos), true],
			[digitos(f.celular.min_digitos - 1), false],
			[digitos(f.celular.max_digitos + 1), false],
			['+52 999 123 4567', true],
			['(999) 765-4321', true],
			['999.765.4321', true],
			['+52 999 abc 4567', false],
			['++529991234567', false],
			['999\u00a0123\u00a04567', true],
			['999\ufeff123\ufeff4567', false],
			['', false]
		];
		for (const [s, ok] of casos) expect(celularValido(s, f), s).toBe(ok);
	});

	it('receipts: every served extension with each of its MIME types passes; mismatches, size and emptiness do not', () => {
		for (const t of f.comprobante.tipos) {
			for (const mime of t.mime) {
				expect(revisarComprobante({ name: `r${t.extension.toUpperCase()}`, type: mime, size: 10 }, f), `${t.extension} ${mime}`).toBeNull();
			}
		}
		expect(revisarComprobante(null, f)).not.toBeNull();
		expect(revisarComprobante({ name: 'r.exe', type: 'application/pdf', size: 10 }, f)).toMatch(/PDF/);
		expect(revisarComprobante({ name: 'r', type: 'application/pdf', size: 10 }, f)).not.toBeNull();
		expect(revisarComprobante({ name: 'r.pdf', type: 'image/png', size: 10 }, f)).toMatch(/tipo/);
		expect(revisarComprobante({ name: 'r.pdf', type: 'application/pdf', size: 0 }, f)).toMatch(/vacío/);
		expect(revisarComprobante({ name: 'r.pdf', type: 'application/pdf', size: f.comprobante.max_bytes }, f)).toBeNull();
		expect(revisarComprobante({ name: 'r.pdf', type: 'application/pdf', size: f.comprobante.max_bytes + 1 }, f)).toMatch(/MB/);
	});
});

describe('the delegate form', () => {
	it('a complete individual and a complete pair pass', () => {
		expect(validarDelegaciones(cat, individual(), recibo, true)).toEqual({});
		expect(validarDelegaciones(cat, pareja(), recibo, true)).toEqual({});
	});

	it('every offered choice, in every rotation of committees, passes for both modalities', () => {
		for (const modalidad of f.modalidades) {
			const n = cat.comites.filter((c) => admiteModalidad(c, modalidad)).length;
			for (let salto = 0; salto < n; salto++) {
				const v = { ...(modalidad === 'pareja' ? pareja() : individual()), ...elecciones(modalidad, salto) };
				expect(validarDelegaciones(cat, v, recibo, true), `${modalidad} ${salto}`).toEqual({});
			}
		}
	});

	it('reports each broken rule at its field', () => {
		const casos: [string, (v: Valores) => void, string, RegExp][] = [
			['missing name', (v) => (v.nombre_0 = ' '), 'nombre_0', /Completa/],
			['age out of range', (v) => (v.edad_0 = String(f.edad.max + 1)), 'edad_0', /edad/],
			['bad e-mail', (v) => (v.correo_0 = 'ana@'), 'correo_0', /correo/],
			['bad phone', (v) => (v.celular_contacto_0 = '123'), 'celular_contacto_0', /dígitos/],
			['unknown escolaridad', (v) => (v.escolaridad_0 = 'Kinder'), 'escolaridad_0', /opciones/],
			['school needed', (v) => (v.escuela_0 = ''), 'escuela_0', /Completa/],
			['too long', (v) => (v.ciudad_estado_0 = 'é'.repeat(151)), 'ciudad_estado_0', /150/],
			['official delegation without its names', (v) => (v.delegacion_oficial = 'si'), 'nombre_delegacion_oficial', /Completa/],
			['same committee twice', (v) => {
				v.comite_1 = v.comite_0;
				for (let j = 0; j < 3; j++) v[opcionCampo(1, j)] = v[opcionCampo(0, j)];
			}, 'comite_1', /otra opción/],
			['same delegation twice', (v) => (v.comite_0_pais_2 = v.comite_0_pais_0), 'comite_0_pais_2', /distinta/],
			['option of another committee', (v) => (v.comite_0_pais_1 = v.comite_1_pais_1), 'comite_0_pais_1', /comité seleccionado/],
			['third option missing', (v) => (v.comite_2_pais_2 = ''), 'comite_2_pais_2', /Elige/]
		];
		for (const [nombre, romper, campo, mensaje] of casos) {
			const v = individual();
			romper(v);
			const e = validarDelegaciones(cat, v, recibo, true);
			expect(e[campo], nombre).toMatch(mensaje);
		}
	});

	it('no escuela is asked for "No estudio"', () => {
		const v = { ...individual(), escolaridad_0: f.escolaridad_sin_escuela, escuela_0: '' };
		expect(validarDelegaciones(cat, v, recibo, true)).toEqual({});
	});

	it('a pair needs the second participant, and cannot take closed committees or groups', () => {
		const v = { ...individual(), modalidad: 'pareja' };
		const e = validarDelegaciones(cat, v, recibo, true);
		expect(Object.keys(e)).toContain('nombre_1');
		expect(Object.keys(e)).toContain('relacion_contacto_1');
		expect(Object.keys(e)).not.toContain('info_extra_1');
		const cerrado = cat.comites.find((c) => !c.modalidades.includes('pareja'))!;
		const conGrupo = cat.comites.find((c) => admiteModalidad(c, 'pareja') && c.grupos.some((g) => grupoSoloIndividual(c, g)))!;
		const w = pareja();
		w.comite_0 = cerrado.codigo;
		w.comite_1 = conGrupo.codigo;
		w.comite_1_pais_0 = conGrupo.grupos.find((g) => grupoSoloIndividual(conGrupo, g))!.delegaciones[0].valor;
		const e2 = validarDelegaciones(cat, w, recibo, true);
		expect(e2.comite_0).toMatch(/modalidad/);
		expect(e2.comite_1_pais_0).toMatch(/individual/);
	});

	it('the receipt and the rules checkbox are required', () => {
		const e = validarDelegaciones(cat, individual(), null, false);
		expect(Object.keys(e)).toEqual([f.comprobante.campo, 'aceptar_reglamento']);
	});

	it('errors come in page order', () => {
		const v = individual();
		v.comite_2 = '';
		v.nombre_0 = '';
		const e = validarDelegaciones(cat, v, null, true);
		expect(Object.keys(e)[0]).toBe('nombre_0');
		expect(Object.keys(e).at(-1)).toBe(f.comprobante.campo);
	});
});

describe('the faculty form', () => {
	const fila = (i: number): Fila => ({ ...filaVacia(), nombre: `Delegado ${i}`, apellido: 'López', edad: '16', celular: '9991234567', correo: `d${i}@example.com`, ciudad_estado: 'Mérida', escolaridad: 'Secundaria', escuela: 'Escuela' });
	const asesor: Valores = {
		institucion_delegacion_oficial: 'Colegio Montejo',
		nombre_faculty: 'Laura',
		apellido_faculty: 'Gómez',
		celular_faculty: '+52 999 000 1111',
		correo_faculty: 'laura@example.com',
		ciudad_estado_faculty: 'Mérida',
		pais_faculty: 'México'
	};
	const filas = (n: number) => Array.from({ length: n }, (_, i) => fila(i));

	it(`passes with the minimum and with more rows`, () => {
		expect(validarFaculty(cat, asesor, filas(f.min_delegaciones), recibo, true)).toEqual({});
		expect(validarFaculty(cat, asesor, filas(f.min_delegaciones + 3), recibo, true)).toEqual({});
	});

	it('fewer rows than the minimum is an error at numero_delegaciones', () => {
		expect(validarFaculty(cat, asesor, filas(f.min_delegaciones - 1), recibo, true).numero_delegaciones).toMatch(String(f.min_delegaciones));
	});

	it('row errors are named by row', () => {
		const rs = filas(5);
		rs[3].edad = '99';
		rs[4].correo = 'x';
		rs[2].escuela = '';
		rs[1] = { ...rs[1], escolaridad: f.escolaridad_sin_escuela, escuela: '' };
		const e = validarFaculty(cat, asesor, rs, recibo, true);
		expect(Object.keys(e)).toEqual([filaCampo('escuela', 2), filaCampo('edad', 3), filaCampo('correo', 4)]);
	});

	it('the advisor fields are those formulario declares', () => {
		const e = validarFaculty(cat, {}, filas(4), recibo, true);
		expect(Object.keys(e).sort()).toEqual(f.campos.faculty.filter((c) => c.requerido && c.nombre !== 'numero_delegaciones').map((c) => c.nombre).sort());
	});
});
