//! One text form per enum: an enum whose strings strum derives (`IntoStaticStr` and
//! `EnumString`, with `serialize_all` or a `serialize` per variant) gets serde and SQLite
//! conversions that use the same strings, from [`text_enum!`]. So the text on the wire, in
//! JSON and in a SQLite column is written in one place, the strum attributes.

/// Implements `Serialize`, `Deserialize`, rusqlite's `ToSql` and `FromSql` for enums that
/// derive strum's `IntoStaticStr`, `EnumString` and `VariantNames`, through their strum
/// strings.
macro_rules! text_enum {
    ($($t:ty),+ $(,)?) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(<&'static str>::from(*self))
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(|_| {
                    serde::de::Error::unknown_variant(
                        &s,
                        <$t as strum::VariantNames>::VARIANTS,
                    )
                })
            }
        }

        impl rusqlite::types::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::Borrowed(
                    rusqlite::types::ValueRef::Text(<&'static str>::from(*self).as_bytes()),
                ))
            }
        }

        impl rusqlite::types::FromSql for $t {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let s = value.as_str()?;
                s.parse().map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    )+};
}

pub(crate) use text_enum;
