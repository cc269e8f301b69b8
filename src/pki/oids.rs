//! The object identifiers certgate writes and reads in keys, requests and
//! certificates, as arcs. Constants only.

pub const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
pub const SHA256_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];
pub const SHA384_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 12];
pub const SHA512_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 13];
pub const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
pub const PRIME256V1: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
pub const SECP384R1: &[u64] = &[1, 3, 132, 0, 34];
pub const SECP521R1: &[u64] = &[1, 3, 132, 0, 35];
pub const ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
pub const ECDSA_WITH_SHA384: &[u64] = &[1, 2, 840, 10045, 4, 3, 3];
pub const ECDSA_WITH_SHA512: &[u64] = &[1, 2, 840, 10045, 4, 3, 4];
pub const ED25519: &[u64] = &[1, 3, 101, 112];
pub const EXTENSION_REQUEST: &[u64] = &[1, 2, 840, 113549, 1, 9, 14];

pub const AT_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
pub const AT_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
pub const AT_COUNTRY: &[u64] = &[2, 5, 4, 6];
pub const AT_LOCALITY: &[u64] = &[2, 5, 4, 7];
pub const AT_PROVINCE: &[u64] = &[2, 5, 4, 8];
pub const AT_STREET_ADDRESS: &[u64] = &[2, 5, 4, 9];
pub const AT_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
pub const AT_ORGANIZATIONAL_UNIT: &[u64] = &[2, 5, 4, 11];
pub const AT_POSTAL_CODE: &[u64] = &[2, 5, 4, 17];
pub const AT_DOMAIN_COMPONENT: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 25];
pub const AT_UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];
pub const AT_EMAIL_ADDRESS: &[u64] = &[1, 2, 840, 113549, 1, 9, 1];

pub const EXT_SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
pub const EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
pub const EXT_SAN: &[u64] = &[2, 5, 29, 17];
pub const EXT_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
pub const EXT_NAME_CONSTRAINTS: &[u64] = &[2, 5, 29, 30];
pub const EXT_CRL_DISTRIBUTION_POINTS: &[u64] = &[2, 5, 29, 31];
pub const EXT_AUTHORITY_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 35];
pub const EXT_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
pub const EXT_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
pub const AD_OCSP: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
pub const AD_CA_ISSUERS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];

pub const EKU_ANY: &[u64] = &[2, 5, 29, 37, 0];
pub const EKU_SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
pub const EKU_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
pub const EKU_CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];
pub const EKU_EMAIL_PROTECTION: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 4];
pub const EKU_IPSEC_END_SYSTEM: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 5];
pub const EKU_IPSEC_TUNNEL: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 6];
pub const EKU_IPSEC_USER: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 7];
pub const EKU_TIMESTAMPING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];
pub const EKU_OCSP_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 9];
pub const EKU_MICROSOFT_SGC: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 10, 3, 3];
pub const EKU_NETSCAPE_SGC: &[u64] = &[2, 16, 840, 1, 113730, 4, 1];
