#include "fhir/definitions.h"

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace hoa::fhir {
namespace {

class Definitions : public testing::CoreRegistryTest {};

TEST_F(Definitions, LoadsAllStructureDefinitionsAndConformanceResources) {
  EXPECT_EQ(reg_->structureDefinitionCount(), 655u);
  EXPECT_EQ(reg_->resourcesOfType("StructureDefinition").size(), 655u);
  EXPECT_GT(reg_->resourcesOfType("ValueSet").size(), 1000u);
  EXPECT_GT(reg_->resourcesOfType("CodeSystem").size(), 1000u);
  EXPECT_GT(reg_->resourcesOfType("SearchParameter").size(), 1000u);
  EXPECT_NE(reg_->resource("http://hl7.org/fhir/ValueSet/administrative-gender"), nullptr);
  EXPECT_NE(reg_->resource("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1"), nullptr);
  EXPECT_NE(reg_->resource("http://hl7.org/fhir/StructureDefinition/vitalsigns"), nullptr);
}

TEST_F(Definitions, KnowsEveryResourceAndDataType) {
  EXPECT_NE(reg_->resourceType("ServiceRequest"), nullptr);
  EXPECT_NE(reg_->resourceType("QuestionnaireResponse"), nullptr);
  EXPECT_EQ(reg_->resourceType("DomainResource"), nullptr) << "abstract";
  EXPECT_EQ(reg_->resourceType("HumanName"), nullptr) << "not a resource";
  size_t resources = 0;
  for (const json::Value* sd : reg_->resourcesOfType("StructureDefinition"))
    if (sd->getString("kind") == "resource" && sd->getString("derivation") == "specialization" &&
        !sd->find("abstract")->boolean)
      ++resources;
  EXPECT_EQ(resources, 146u);
  const TypeInfo* str = reg_->type("string");
  ASSERT_NE(str, nullptr);
  EXPECT_EQ(str->kind, TypeKind::Primitive);
  EXPECT_EQ(reg_->type("decimal")->jsonKind, JsonKind::Decimal);
  EXPECT_EQ(reg_->type("positiveInt")->jsonKind, JsonKind::Integer);
  EXPECT_EQ(reg_->type("boolean")->jsonKind, JsonKind::Boolean);
  EXPECT_EQ(reg_->type("xhtml")->jsonKind, JsonKind::Xhtml);
}

TEST_F(Definitions, AnswersCardinalityTypesAndOrder) {
  const TypeInfo* sr = reg_->resourceType("ServiceRequest");
  const ElementDef* subject = sr->element("subject");
  ASSERT_NE(subject, nullptr);
  EXPECT_EQ(subject->min, 1u);
  EXPECT_EQ(subject->max, 1u);
  ASSERT_EQ(subject->types.size(), 1u);
  EXPECT_EQ(subject->types[0].code, "Reference");
  const ElementDef* orderDetail = sr->element("orderDetail");
  EXPECT_EQ(orderDetail->max, kUnbounded);
  EXPECT_TRUE(orderDetail->repeats());
  // Order follows the definition: identifier before status before subject.
  EXPECT_LT(sr->element("identifier")->index, sr->element("status")->index);
  EXPECT_LT(sr->element("status")->index, subject->index);
  // Inherited elements come first.
  EXPECT_EQ(sr->elements[0].name, "id");
  EXPECT_EQ(sr->elements[1].name, "meta");
}

TEST_F(Definitions, ResolvesChoiceTypes) {
  const TypeInfo* obs = reg_->resourceType("Observation");
  const ElementDef* value = obs->element("value");
  ASSERT_NE(value, nullptr);
  EXPECT_TRUE(value->isChoice);
  EXPECT_EQ(value->path, "Observation.value[x]");
  EXPECT_EQ(value->types.size(), 11u);
  const TypeInfo::Property* vq = obs->property("valueQuantity");
  ASSERT_NE(vq, nullptr);
  EXPECT_EQ(vq->element, value);
  EXPECT_EQ(vq->type->name, "Quantity");
  EXPECT_EQ(obs->property("valueDateTime")->type->name, "dateTime");
  EXPECT_EQ(obs->property("value"), nullptr);
  EXPECT_EQ(obs->property("valueFoo"), nullptr);
  // Constrained types keep their own name: Condition.onsetAge is an Age.
  const TypeInfo::Property* age = reg_->resourceType("Condition")->property("onsetAge");
  ASSERT_NE(age, nullptr);
  EXPECT_EQ(age->type->name, "Age");
  EXPECT_TRUE(age->type->isA("Quantity"));
}

TEST_F(Definitions, ResolvesBackboneElementsAndContentReferences) {
  const TypeInfo* q = reg_->resourceType("Questionnaire");
  const TypeInfo::Property* item = q->property("item");
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->type->kind, TypeKind::Backbone);
  EXPECT_EQ(item->type->name, "Questionnaire.item");
  // Questionnaire.item.item refers back to Questionnaire.item.
  const TypeInfo::Property* nested = item->type->property("item");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->type, item->type);
  EXPECT_NE(item->type->property("answerValueSet"), nullptr);
  const TypeInfo::Property* option = item->type->property("answerOption");
  ASSERT_NE(option, nullptr);
  EXPECT_EQ(option->type->name, "Questionnaire.item.answerOption");
  EXPECT_NE(option->type->property("valueCoding"), nullptr);
}

TEST_F(Definitions, MarksXmlAttributesAndResourceSlots) {
  const TypeInfo* ext = reg_->type("Extension");
  EXPECT_TRUE(ext->element("url")->xmlAttr);
  EXPECT_TRUE(ext->element("id")->xmlAttr);
  EXPECT_FALSE(reg_->resourceType("Patient")->element("id")->xmlAttr) << "Resource.id is an element";
  EXPECT_TRUE(reg_->resourceType("Patient")->element("contained")->isResource);
  const TypeInfo* entry = reg_->resourceType("Bundle")->property("entry")->type;
  EXPECT_TRUE(entry->element("resource")->isResource);
}

TEST(DefinitionsLoading, ReportsAMissingPackageFolder) {
  Registry r;
  std::string error;
  EXPECT_FALSE(r.loadPackage("/nonexistent/package", error));
  EXPECT_NE(error.find("not found"), std::string::npos);
}

TEST(DefinitionsLoading, ReportsABrokenDefinitionWithItsOrigin) {
  Registry r;
  std::string error;
  EXPECT_FALSE(r.addResource("{\"resourceType\": \"ValueSet\", ", "broken.json", error));
  EXPECT_NE(error.find("broken.json:1:"), std::string::npos) << error;
}

}  // namespace
}  // namespace hoa::fhir
