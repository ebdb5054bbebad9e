/**
 * CreateOTAModule, GenerateOTAUploadURL, CreateOTAFirmware and QueryOTAFirmware (docs/protocol/ota-platform.md,
 * "Modules, uploads and packages"). A package's files must have been uploaded first (GenerateOTAUploadURL and the
 * form POST, or `sim.ota.upload`); the simulator checks the digest it is given against the bytes when the package
 * asks to be verified, and the package is then verified at once (there is no device verification job here).
 */
import { ApiErrors } from '../errors';
import { DEFAULT_MODULE, digest, type FirmwareFile, MAX_FIRMWARE, type SignMethod } from '../ota/catalog';
import { FILE_SUFFIXES } from '../ota/upload';
import { findProduct, optionalText, productKeySchema } from './common';
import type { ApiAction, ApiDeps } from './types';

const instance = { IotInstanceId: optionalText(128) };
const moduleNameSchema = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', expected: '1..64 letters, digits, ., _ or -' };
const versionSchema = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', expected: 'a version of 1..64 letters, digits, ., _ or -' };
/** The most files of one multi-file package. */
const MAX_MULTI_FILES = 20;

export const createOTAModule: ApiAction<{ ProductKey: string; ModuleName: string; AliasName?: string; Desc?: string }> = {
  name: 'CreateOTAModule',
  schema: {
    type: 'object',
    required: ['ProductKey', 'ModuleName'],
    properties: { ProductKey: productKeySchema, ModuleName: moduleNameSchema, AliasName: optionalText(64), Desc: optionalText(100), ...instance },
  },
  async handle(p, deps) {
    findProduct(deps.registry, p.ProductKey);
    const m = { productKey: p.ProductKey, moduleName: p.ModuleName, ...(p.AliasName ? { aliasName: p.AliasName } : {}), ...(p.Desc ? { desc: p.Desc } : {}) };
    if (!deps.ota.catalog.addModule(m)) throw ApiErrors.otaModuleExists(p.ProductKey, p.ModuleName);
    return {};
  },
};

export const generateOTAUploadURL: ApiAction<{ FileSuffix?: string }> = {
  name: 'GenerateOTAUploadURL',
  schema: { type: 'object', properties: { FileSuffix: { type: 'string', enum: [...FILE_SUFFIXES], expected: FILE_SUFFIXES.join(', ') }, ...instance } },
  async handle(p, deps) {
    return { Data: deps.ota.uploads.generate(p.FileSuffix ?? 'bin') };
  },
};

interface MultiFileParam {
  Name?: string;
  Url?: string;
  Size?: string;
  FileMd5?: string;
  SignValue?: string;
}

interface CreateFirmwareParams {
  DestVersion: string;
  FirmwareName: string;
  FirmwareUrl?: string;
  FirmwareSign?: string;
  SignMethod?: string;
  FirmwareSize?: number;
  ProductKey?: string;
  ModuleName?: string;
  SrcVersion?: string;
  Type?: number;
  NeedToVerify?: boolean;
  FirmwareDesc?: string;
  Udi?: string;
  MultiFiles?: MultiFileParam[];
}

const HEX = { MD5: /^[0-9a-fA-F]{32}$/, SHA256: /^[0-9a-fA-F]{64}$/ };

/** Wire names of one file's parameters, for error messages. */
interface FileParamNames {
  url: string;
  size: string;
  sign: string;
  md5: string;
}

const singleNames: FileParamNames = { url: 'FirmwareUrl', size: 'FirmwareSize', sign: 'FirmwareSign', md5: 'FirmwareSign' };
const multiNames = (i: number): FileParamNames => ({ url: `MultiFiles.${i}.Url`, size: `MultiFiles.${i}.Size`, sign: `MultiFiles.${i}.SignValue`, md5: `MultiFiles.${i}.FileMd5` });

/** One package file from its upload: size and digests checked against what the caller says. */
function packageFile(deps: ApiDeps, n: FileParamNames, f: { name: string; url: string; size?: number; sign?: string; md5?: string }, method: SignMethod, verify: boolean): FirmwareFile {
  const fileId = deps.ota.catalog.uploadedFile(f.url);
  if (!fileId) throw ApiErrors.invalidParameter(n.url, 'the FirmwareUrl of a file uploaded after GenerateOTAUploadURL', f.url);
  const body = deps.ota.catalog.files.bytes(fileId)!;
  if (f.size !== undefined && f.size !== body.length) throw ApiErrors.invalidParameter(n.size, `the uploaded file's size ${body.length}`, f.size);
  if (f.sign !== undefined && !HEX[method].test(f.sign)) throw ApiErrors.invalidParameter(n.sign, `a ${method} digest in hex`, f.sign);
  const actual = digest(method, body);
  if (verify && f.sign !== undefined && f.sign.toLowerCase() !== actual) {
    throw ApiErrors.invalidParameter(n.sign, `the ${method} of the uploaded file (${actual}), or NeedToVerify=false`, f.sign);
  }
  if (f.md5 !== undefined && !HEX.MD5.test(f.md5)) throw ApiErrors.invalidParameter(n.md5, 'an MD5 digest in hex', f.md5);
  return { name: f.name, url: f.url, fileId, size: body.length, sign: (f.sign ?? actual).toLowerCase(), md5: (f.md5 ?? digest('MD5', body)).toLowerCase() };
}

export const createOTAFirmware: ApiAction<CreateFirmwareParams> = {
  name: 'CreateOTAFirmware',
  lists: ['MultiFiles'],
  schema: {
    type: 'object',
    required: ['DestVersion', 'FirmwareName'],
    properties: {
      DestVersion: versionSchema,
      FirmwareName: { type: 'string', minLength: 1, maxLength: 40, expected: 'a name of 1..40 characters' },
      FirmwareUrl: { type: 'string', minLength: 1, maxLength: 2048, expected: 'a URL' },
      FirmwareSign: { type: 'string', minLength: 1, maxLength: 128, expected: 'a digest in hex' },
      SignMethod: { type: 'string', pattern: '^(?:[Mm][Dd]5|[Ss][Hh][Aa]256)$', expected: 'MD5 or SHA256' },
      FirmwareSize: { type: 'integer', minimum: 0, maximum: 1000 * 1024 * 1024, expected: 'a size in bytes up to 1000 MB' },
      ProductKey: productKeySchema,
      ModuleName: moduleNameSchema,
      SrcVersion: versionSchema,
      Type: { type: 'integer', enum: [0, 1], expected: '0 (whole package) or 1 (differential)' },
      NeedToVerify: { type: 'boolean', expected: 'true or false' },
      FirmwareDesc: optionalText(100),
      Udi: optionalText(4096),
      MultiFiles: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_MULTI_FILES,
        expected: `a list MultiFiles.1 .. MultiFiles.N of 1..${MAX_MULTI_FILES} files`,
        items: {
          type: 'object',
          required: ['Name', 'Url'],
          expected: 'an object {Name, Url, Size?, FileMd5?, SignValue?}',
          properties: {
            Name: { type: 'string', minLength: 1, maxLength: 128, expected: 'a file name' },
            Url: { type: 'string', minLength: 1, maxLength: 2048, expected: 'a URL' },
            Size: { type: 'string', pattern: '^[0-9]{1,10}$', expected: 'a size in bytes' },
            FileMd5: { type: 'string', expected: 'an MD5 digest in hex' },
            SignValue: { type: 'string', expected: 'a digest in hex' },
          },
        },
      },
      ...instance,
    },
  },
  async handle(p, deps) {
    const catalog = deps.ota.catalog;
    if (p.ProductKey !== undefined) findProduct(deps.registry, p.ProductKey);
    const moduleName = p.ModuleName ?? DEFAULT_MODULE;
    if (p.ProductKey !== undefined && !catalog.module(p.ProductKey, moduleName)) throw ApiErrors.otaModuleNotFound(p.ProductKey, moduleName);
    if (catalog.firmware.size >= MAX_FIRMWARE) throw ApiErrors.otaFirmwareLimit(MAX_FIRMWARE);
    const type = (p.Type ?? 0) as 0 | 1;
    if (type === 1 && p.SrcVersion === undefined) throw ApiErrors.missingParameter('SrcVersion');
    const signMethod: SignMethod = (p.SignMethod ?? 'MD5').toUpperCase() === 'MD5' ? 'MD5' : 'SHA256';
    const verify = p.NeedToVerify ?? true;
    let files: FirmwareFile[];
    if (p.MultiFiles) {
      if (p.FirmwareUrl !== undefined) throw ApiErrors.invalidParameter('FirmwareUrl', 'no FirmwareUrl with MultiFiles', p.FirmwareUrl);
      files = p.MultiFiles.map((f, i) =>
        packageFile(deps, multiNames(i + 1), { name: f.Name!, url: f.Url!, ...(f.Size !== undefined ? { size: Number(f.Size) } : {}), ...(f.SignValue !== undefined ? { sign: f.SignValue } : {}), ...(f.FileMd5 !== undefined ? { md5: f.FileMd5 } : {}) }, signMethod, verify),
      );
      const names = new Set<string>();
      files.forEach((f, i) => {
        if (names.has(f.name)) throw ApiErrors.invalidParameter(`MultiFiles.${i + 1}.Name`, 'a name no other file of the package has', f.name);
        names.add(f.name);
      });
    } else {
      if (p.FirmwareUrl === undefined) throw ApiErrors.missingParameter('FirmwareUrl');
      const name = decodeURIComponent(new URL(p.FirmwareUrl, 'http://x').pathname.split('/').pop() ?? p.FirmwareName);
      files = [packageFile(deps, singleNames, { name, url: p.FirmwareUrl, ...(p.FirmwareSize !== undefined ? { size: p.FirmwareSize } : {}), ...(p.FirmwareSign !== undefined ? { sign: p.FirmwareSign } : {}) }, signMethod, verify)];
    }
    const fw = catalog.addFirmware({
      ...(p.ProductKey !== undefined ? { productKey: p.ProductKey } : {}),
      name: p.FirmwareName,
      ...(p.FirmwareDesc !== undefined ? { desc: p.FirmwareDesc } : {}),
      destVersion: p.DestVersion,
      ...(p.SrcVersion !== undefined ? { srcVersion: p.SrcVersion } : {}),
      moduleName,
      type,
      signMethod,
      status: verify ? 1 : -1,
      ...(p.Udi !== undefined ? { udi: p.Udi } : {}),
      multi: p.MultiFiles !== undefined,
      files,
    });
    return { Data: { FirmwareId: fw.firmwareId, UtcCreate: fw.utcCreate } };
  },
};

export const queryOTAFirmware: ApiAction<{ FirmwareId: string }> = {
  name: 'QueryOTAFirmware',
  schema: { type: 'object', required: ['FirmwareId'], properties: { FirmwareId: { type: 'string', minLength: 1, maxLength: 64, expected: 'a FirmwareId' }, ...instance } },
  async handle(p, deps) {
    const fw = deps.ota.catalog.firmware.get(p.FirmwareId);
    if (!fw) throw ApiErrors.otaFirmwareNotFound(p.FirmwareId);
    const single = fw.multi ? undefined : fw.files[0];
    return {
      FirmwareInfo: {
        FirmwareId: fw.firmwareId,
        FirmwareName: fw.name,
        ...(fw.desc !== undefined ? { FirmwareDesc: fw.desc } : {}),
        DestVersion: fw.destVersion,
        ...(fw.srcVersion !== undefined ? { SrcVersion: fw.srcVersion } : {}),
        ...(single ? { FirmwareSign: single.sign, FirmwareSize: single.size, FirmwareUrl: single.url } : {}),
        SignMethod: fw.signMethod,
        ModuleName: fw.moduleName,
        ...(fw.productKey !== undefined ? { ProductKey: fw.productKey } : {}),
        Status: fw.status,
        Type: fw.type,
        ...(fw.udi !== undefined ? { Udi: fw.udi } : {}),
        VerifyProgress: 100,
        ...(fw.multi ? { MultiFiles: fw.files.map((f) => ({ Name: f.name, Url: f.url, Size: f.size, FileMd5: f.md5, SignValue: f.sign })) } : {}),
        UtcCreate: fw.utcCreate,
        UtcModified: fw.utcModified,
      },
    };
  },
};
